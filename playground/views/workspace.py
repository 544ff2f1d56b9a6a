"""The workspace canvas: credentials, clock, pipeline, create forms, API feed."""

from __future__ import annotations

from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from broker import arns, costs, errors, kms, lambdas, selectors, sqs, workspaces
from broker import clock as clocks
from broker.pipeline import databases, producers
from playground import forms, pages
from playground.pages import common
from playground.pages import workspace as page
from playground.views.access import workspace_or_404

PAGE = "playground/workspace.html"


def connection_context(request, workspace) -> dict:
    endpoint = request.build_absolute_uri("/")
    return {
        "endpoint": endpoint,
        "queue_url_example": arns.queue_url(
            endpoint, workspace.account_id, "MyTaskQueue", workspace.region
        ),
        "live_url": f"/ws/w/{workspace.slug}/",
        "server_now": pages.server_now(),
    }


def workspace(request, slug):
    ws = workspace_or_404(request, slug)
    now = clocks.for_workspace(ws).now()
    context = {
        **connection_context(request, ws),
        **common.clock_context(ws),
        **page.pipeline_context(ws, now=now),
        **page.forms_context(ws),
        "api_calls": selectors.api_feed(ws, limit=page.API_FEED_LIMIT),
        "regions": selectors.account_regions(ws),
        "page": pages.page_param("workspace"),
        **page.kms_context(ws),
        **page.cost_context(ws),
    }
    return render(request, PAGE, context)


@require_POST
def create_kms_key(request, slug):
    """Create a customer managed key of the chosen type, with an alias if one is given."""
    ws = workspace_or_404(request, slug)
    alias = request.POST.get("alias", "").strip()
    spec, _, usage = request.POST.get("type", "").partition("/")
    clock = clocks.for_workspace(ws)
    error = ""
    try:
        kms.require_opt_in(ws)
        with transaction.atomic():
            key = kms.create_key(
                ws,
                description="made in the playground",
                spec=spec or None,
                usage=usage or None,
                clock=clock,
            )
            if alias:
                kms.create_alias(ws, alias, key.key_id, clock=clock)
    except errors.AwsError as err:
        error = err.message
    return render(
        request,
        f"{PAGE}#kms-keys",
        {
            "workspace": ws,
            "kms_error": error,
            "kms_alias": alias if error else "",
            **page.kms_context(ws),
        },
        status=422 if error else 200,
    )


@require_POST
def toggle_kms_key(request, slug, key_id):
    """DisableKey / EnableKey: watch what a disabled key does to sends and receives."""
    ws = workspace_or_404(request, slug)
    error = ""
    try:
        kms.require_opt_in(ws)
        kms.set_enabled(
            ws, key_id, request.POST.get("enabled") == "true", clock=clocks.for_workspace(ws)
        )
    except errors.AwsError as err:
        error = err.message
    return render(
        request,
        f"{PAGE}#kms-keys",
        {"workspace": ws, "kms_error": error, **page.kms_context(ws)},
        status=422 if error else 200,
    )


@require_POST
def kms_quota(request, slug):
    """Set the account's KMS request quota (KmsThrottled past it)."""
    ws = workspace_or_404(request, slug)
    form = forms.KmsQuotaForm(request.POST)
    if form.is_valid():
        kms.set_request_quota(ws, form.cleaned_data["quota"], clock=clocks.for_workspace(ws))
    return render(
        request,
        f"{PAGE}#kms-keys",
        {"workspace": ws, **page.kms_context(ws, quota_form=form if form.errors else None)},
        status=422 if form.errors else 200,
    )


@require_POST
def kms_opt_in(request, slug):
    """Opt the account in to KMS or out of it (KmsOptInRequired while out)."""
    ws = workspace_or_404(request, slug)
    kms.set_opted_in(ws, request.POST.get("opted_in") == "true", clock=clocks.for_workspace(ws))
    return render(request, f"{PAGE}#kms-keys", {"workspace": ws, **page.kms_context(ws)})


@require_POST
def reset_costs(request, slug):
    """Start a new run of the cost panel: its counters from zero, from now."""
    ws = workspace_or_404(request, slug)
    costs.reset(ws, clock=clocks.for_workspace(ws))
    return render(request, f"{PAGE}#cost-panel", page.cost_context(ws))


@require_POST
def aws_rules(request, slug):
    """Strict AWS rules, or the relaxed ones of local emulators (settings.py)."""
    ws = workspace_or_404(request, slug)
    workspaces.set_strict(ws, request.POST.get("strict") == "true", clock=clocks.for_workspace(ws))
    return render(request, f"{PAGE}#aws-rules", {"workspace": ws})


@require_POST
def clock(request, slug):
    ws = workspace_or_404(request, slug)
    action = request.POST.get("action")
    error = ""
    try:
        if action == "speed":
            clocks.set_speed(ws, float(request.POST.get("speed", "1")))
        elif action == "pause":
            clocks.pause(ws)
        elif action == "resume":
            clocks.resume(ws)
        elif action == "step":
            clocks.step(ws, float(request.POST.get("seconds", "1")))
    except (errors.AwsError, ValueError) as err:
        error = getattr(err, "message", str(err))
    ws.refresh_from_db()
    context = {**common.clock_context(ws), "clock_error": error}
    return render(request, f"{PAGE}#clock", context, status=422 if error else 200)


def create_card(request, ws, form, *, kind: str, create, field_map=None) -> HttpResponse:
    """The answer of the workspace page's create card for `kind` (its partial
    `create-<kind>-form`, its form `<kind>_form`). A valid form runs
    `create(cleaned_data)`, which makes the resource and returns the note to show; the
    card then starts over (its name empty, its choices following the new resource). A
    refusal is shown next to its field, `field_map` taking the error's field to the
    form's, and answers 422."""
    card = f"{PAGE}#create-{kind}-form"
    if form.is_valid():
        try:
            note = create(form.cleaned_data)
        except errors.AwsError as err:
            forms.show_aws_error(form, err, field_map)
        else:
            return render(request, card, {**page.forms_context(ws, created=True), "note": note})
    return render(request, card, {**page.forms_context(ws), f"{kind}_form": form}, status=422)


@require_POST
def create_queue(request, slug):
    ws = workspace_or_404(request, slug)
    names = [q.name for q in selectors.queues(ws)]
    form = forms.CreateQueueForm(request.POST, queue_names=names)

    def create(data) -> str:
        queue = sqs.create_queue(
            ws, data["name"], attributes=form.attributes(ws), clock=clocks.for_workspace(ws)
        )
        return f"Queue {queue.name} is ready."

    return create_card(
        request,
        ws,
        form,
        kind="queue",
        create=create,
        field_map=forms.CreateQueueForm.FIELD_MAP,
    )


def redirect_to_workspace(ws) -> HttpResponse:
    """After a delete button: htmx follows HX-Redirect to the workspace page."""
    response = HttpResponse(status=204)
    response["HX-Redirect"] = reverse("workspace", args=[ws.slug])
    return response


@require_POST
def create_function(request, slug):
    ws = workspace_or_404(request, slug)
    form = forms.CreateFunctionForm(
        request.POST, database_names=[d.name for d in selectors.databases(ws)]
    )

    def create(data) -> str:
        function = lambdas.create_function(
            ws, data["name"], **form.config(), clock=clocks.for_workspace(ws)
        )
        return f"Function {function.name} is ready."

    return create_card(request, ws, form, kind="function", create=create)


@require_POST
def add_trigger(request, slug):
    ws = workspace_or_404(request, slug)
    context = page.forms_context(ws)
    form = forms.AddTriggerForm(
        request.POST,
        queue_names=[q.name for q in selectors.queues(ws)],
        function_names=[f.name for f in selectors.functions(ws)],
    )
    if form.is_valid():
        data = form.cleaned_data
        queue = sqs.get_queue(ws, data["queue"])
        function = selectors.function(ws, data["function"])
        if function is None:
            raise Http404("No such function.")
        try:
            lambdas.create_event_source_mapping(
                queue, function, **form.settings(), clock=clocks.for_workspace(ws)
            )
        except errors.AwsError as err:
            forms.show_aws_error(form, err)
        else:
            return render(
                request,
                f"{PAGE}#add-trigger-form",
                {**context, "note": f"{queue.name} now triggers {function.name}."},
            )
    return render(
        request, f"{PAGE}#add-trigger-form", {**context, "trigger_form": form}, status=422
    )


@require_POST
def trigger(request, slug, uuid):
    """Enable, disable or delete one SQS trigger; answers with its row (or nothing)."""
    ws = workspace_or_404(request, slug)
    mapping = selectors.mapping(ws, uuid)
    if mapping is None:
        raise Http404("No such trigger.")
    action = request.POST.get("action")
    clock = clocks.for_workspace(ws)
    if action == "delete":
        lambdas.delete_event_source_mapping(mapping, clock=clock)
        return HttpResponse("")
    if action == "update":
        return _update_trigger(request, ws, mapping, clock=clock)
    lambdas.update_event_source_mapping(mapping, enabled=action == "enable", clock=clock)
    mapping.refresh_from_db()
    return render(request, f"{PAGE}#trigger-row", {"workspace": ws, "m": mapping})


def _update_trigger(request, ws, mapping, *, clock):
    """Change a trigger's batch size, window and maximum concurrency from its row."""
    form = forms.TriggerSettingsForm(request.POST)
    error = ""
    if not form.is_valid():
        error = "; ".join(f"{name}: {', '.join(errs)}" for name, errs in form.errors.items())
    else:
        data = form.cleaned_data
        try:
            lambdas.update_event_source_mapping(
                mapping,
                batch_size=data["batch_size"],
                batching_window=data["batching_window"],
                maximum_concurrency=data["maximum_concurrency"],
                clock=clock,
            )
        except errors.AwsError as err:
            error = err.message
    mapping.refresh_from_db()
    return render(
        request,
        f"{PAGE}#trigger-row",
        {"workspace": ws, "m": mapping, "trigger_error": error},
        status=422 if error else 200,
    )


@require_POST
def create_database(request, slug):
    ws = workspace_or_404(request, slug)
    names = [d.name for d in selectors.databases(ws)]
    form = forms.CreateDatabaseForm(request.POST, database_names=names)

    def create(data) -> str:
        database = databases.create_database(
            ws,
            data["name"],
            capacity=data["capacity"],
            latency=data["latency"],
            clock=clocks.for_workspace(ws),
        )
        return f"Database {database.name} is up."

    return create_card(request, ws, form, kind="database", create=create)


@require_POST
def database(request, slug, name):
    """A database node's buttons: down for five minutes, off, back up, or delete."""
    ws = workspace_or_404(request, slug)
    db = selectors.database(ws, name)
    if db is None:
        raise Http404("No such database.")
    clock = clocks.for_workspace(ws)
    action = request.POST.get("action")
    if action == "delete":
        databases.delete_database(db, clock=clock)
        return HttpResponse("")
    if action == "down_for":
        databases.set_down(db, seconds=databases.DOWN_FOR, clock=clock)
    elif action == "down":
        databases.set_down(db, clock=clock)
    elif action == "up":
        databases.set_up(db, clock=clock)
    else:
        return HttpResponse("Unknown action.", status=400)
    return HttpResponse(page.database_node(ws, db, now=clock.now()))


@require_POST
def create_producer(request, slug):
    ws = workspace_or_404(request, slug)
    form = forms.CreateProducerForm(
        request.POST,
        producer_names=[p.name for p in selectors.producers(ws)],
        targets=selectors.producer_targets(ws),
    )

    def create(data) -> str:
        producer = producers.create_producer(
            ws,
            data["name"],
            target_arn=data["target"],
            **form.settings(),
            clock=clocks.for_workspace(ws),
        )
        return f"{producer.name} is calling."

    return create_card(request, ws, form, kind="producer", create=create)


@require_POST
def producer(request, slug, name):
    """A producer node's buttons and edit form: start, stop, change, delete."""
    ws = workspace_or_404(request, slug)
    found = selectors.producer(ws, name)
    if found is None:
        raise Http404("No such producer.")
    clock = clocks.for_workspace(ws)
    action = request.POST.get("action")
    error = ""
    if action == "delete":
        producers.delete_producer(found, clock=clock)
        return HttpResponse("")
    if action in ("start", "stop"):
        producers.set_enabled(found, action == "start", clock=clock)
    elif action == "update":
        form = forms.ProducerSettingsForm(request.POST)
        if not form.is_valid():
            error = "; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items())
        else:
            try:
                producers.update_producer(found, **form.settings(), clock=clock)
            except errors.AwsError as err:
                error = err.message
        found.refresh_from_db()
    else:
        return HttpResponse("Unknown action.", status=400)
    [overview] = selectors.producer_overviews(ws, [found.name], now=clock.now())
    return HttpResponse(page.producer_node(ws, overview, error=error), status=422 if error else 200)
