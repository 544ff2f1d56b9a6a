"""One form per user action. Forms check shape only; AWS limits live in the services.

Views call the service and turn a `broker.errors.AwsError` into a form error with
`show_aws_error`, so the API and the form show the same message. Widgets carry
no `min`/`max`: the browser must let a wrong value through so the learner sees
AWS's own error next to the field.
"""

from __future__ import annotations

import json

from django import forms

from broker import arns, errors

ATTRIBUTE_TYPES = [("String", "String"), ("Number", "Number"), ("Binary", "Binary")]


def fresh_name(base: str, taken) -> str:
    """`base`, or `base2`, `base3`... : the first one no existing resource uses."""
    taken = set(taken)
    if base not in taken:
        return base
    n = 2
    while f"{base}{n}" in taken:
        n += 1
    return f"{base}{n}"


def suggest_name(form: forms.Form, taken, *, blank: bool = False) -> None:
    """Default the name field to a fresh name, or (`blank`, after a create) leave it
    empty with the fresh name as a placeholder, so the form visibly starts over."""
    field = form.fields["name"]
    fresh = fresh_name(field.initial, taken)
    field.widget.attrs["placeholder"] = f"e.g. {fresh}"
    field.initial = None if blank else fresh


def show_aws_error(form: forms.Form, err: errors.AwsError, field_map: dict | None = None) -> None:
    """Put an AWS error next to the field it is about (or above the form)."""
    name = (field_map or {}).get(err.field, err.field)
    if name not in form.fields:
        name = None
    form.add_error(name, err.message)


def attribute_rows(data) -> list[dict]:
    """The `attr_name` / `attr_type` / `attr_value` rows a form posted, blank ones dropped."""
    rows = []
    names, types, values = (data.getlist(k) for k in ("attr_name", "attr_type", "attr_value"))
    for name, type_, value in zip(names, types, values, strict=False):
        if name.strip() or value.strip():
            rows.append({"name": name.strip(), "type": type_, "value": value})
    return rows


def rows_as_attributes(rows: list[dict]) -> dict:
    """Rows as message attributes; a Binary row's value is taken as its bytes."""
    attributes = {}
    for row in rows:
        if row["type"] == "Binary":
            attributes[row["name"]] = {"DataType": "Binary", "BinaryValue": row["value"].encode()}
        else:
            attributes[row["name"]] = {"DataType": row["type"], "StringValue": row["value"]}
    return attributes


def display_rows(rows: list[dict], empty: int = 1) -> list[dict]:
    blank = {"name": "", "type": "String", "value": ""}
    return [*rows, *([blank] * max(empty - len(rows), 1))]


def sns_field(err: errors.AwsError, fields: dict[str, str]) -> str | None:
    """The form field an SNS error is about, read from its text (SNS names the parameter
    in the message: "Invalid parameter: Endpoint …", "… FilterPolicy: …")."""
    for word, field in fields.items():
        if word in err.message:
            return field
    return None


class CreateQueueForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        initial="MyTaskQueue",
        help_text="Letters, digits, hyphens and underscores; a FIFO queue's name ends in .fifo.",
    )
    queue_type = forms.TypedChoiceField(
        label="Type",
        initial="standard",
        widget=forms.RadioSelect,
        required=False,
        empty_value="standard",
        choices=[
            ("standard", "Standard: at-least-once, best-effort order"),
            ("fifo", "FIFO: exactly-once, in order per message group"),
        ],
    )
    content_based_deduplication = forms.BooleanField(
        label="Content-based deduplication",
        required=False,
        help_text="FIFO: a body sent twice within 5 minutes is enqueued once.",
    )
    visibility_timeout = forms.IntegerField(label="Visibility timeout (s)", initial=30)
    delay_seconds = forms.IntegerField(label="Delivery delay (s)", initial=0)
    dead_letter_queue = forms.ChoiceField(label="Dead-letter queue", required=False)
    max_receive_count = forms.IntegerField(
        label="Maximum receives",
        initial=3,
        required=False,
        help_text="Receives before a message moves to the DLQ.",
    )

    # AWS attribute name (AwsError.field) -> form field.
    FIELD_MAP = {
        "VisibilityTimeout": "visibility_timeout",
        "DelaySeconds": "delay_seconds",
        "RedrivePolicy": "max_receive_count",
        "ContentBasedDeduplication": "content_based_deduplication",
    }

    def __init__(self, *args, queue_names: list[str] = (), blank_name: bool = False, **kwargs):
        kwargs.setdefault("auto_id", "queue_%s")
        super().__init__(*args, **kwargs)
        suggest_name(self, queue_names, blank=blank_name)
        self.fields["dead_letter_queue"].choices = [("", "— none —")] + [
            (n, n) for n in queue_names
        ]

    def attributes(self, workspace) -> dict[str, str]:
        data = self.cleaned_data
        attributes = {
            "VisibilityTimeout": str(data["visibility_timeout"]),
            "DelaySeconds": str(data["delay_seconds"]),
        }
        if data["queue_type"] == "fifo":
            attributes["FifoQueue"] = "true"
            if data["content_based_deduplication"]:
                attributes["ContentBasedDeduplication"] = "true"
        elif data["content_based_deduplication"]:
            # Let AWS's own error say why, next to the field.
            attributes["ContentBasedDeduplication"] = "true"
        if data.get("dead_letter_queue"):
            arn = arns.queue(workspace, data["dead_letter_queue"])
            count = data.get("max_receive_count")
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": count if count is not None else ""}
            )
        return attributes


class FunctionConfigForm(forms.Form):
    duration = forms.FloatField(
        label="Duration (s)", initial=1.0, help_text="Simulated seconds each invocation runs."
    )
    timeout = forms.IntegerField(label="Timeout (s)", initial=3)
    duration_max = forms.FloatField(
        label="Up to (s)",
        required=False,
        help_text="Empty: every run lasts the duration.",
    )
    fail_when_body_contains = forms.CharField(
        label="Fail when body contains",
        required=False,
        max_length=256,
        help_text="A batch with such a message fails (leave empty: never).",
    )
    fail_when_attribute = forms.CharField(
        label="Fail when attribute is",
        required=False,
        max_length=512,
        help_text="name=value, e.g. kind=poison: a record with it fails.",
    )
    fail_percent = forms.IntegerField(
        label="Fail at random (%)",
        required=False,
        initial=0,
        min_value=0,
        max_value=100,
        help_text="Runs that fail anyway, the same ones on a rerun.",
    )
    failure = forms.ChoiceField(
        label="A failure",
        choices=[("exception", "raises an exception"), ("crash", "crashes the process")],
        initial="exception",
        required=False,
    )
    report_failed_records = forms.BooleanField(
        label="Report failed records (batchItemFailures) instead of failing the batch",
        required=False,
    )
    log_template = forms.CharField(
        label="Log line", initial="Processing message: {body}", max_length=512
    )
    database = forms.ChoiceField(
        label="Writes to database",
        required=False,
        help_text="One write per record: a database that is down or full fails the batch.",
    )

    SETTINGS = (
        "duration",
        "duration_max",
        "timeout",
        "fail_when_body_contains",
        "fail_when_attribute",
        "fail_percent",
        "failure",
        "report_failed_records",
        "log_template",
        "database",
    )

    def __init__(self, *args, database_names: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        names = list(database_names)
        current = self.initial.get("database")
        if current and current not in names:  # named, then deleted: still a choice
            names.append(current)
        self.fields["database"].choices = [("", "none")] + [(n, n) for n in names]

    def config(self) -> dict:
        config = {k: self.cleaned_data[k] for k in self.SETTINGS}
        if config["duration_max"] is None:
            config["duration_max"] = ""  # cleared, not left as it was
        config["fail_percent"] = config["fail_percent"] or 0
        config["failure"] = config["failure"] or "exception"
        return config


class CreateFunctionForm(FunctionConfigForm):
    name = forms.CharField(max_length=200, initial="ConsumerFunction")

    field_order = ["name", *FunctionConfigForm.SETTINGS]

    def __init__(self, *args, function_names: list[str] = (), blank_name: bool = False, **kwargs):
        kwargs.setdefault("auto_id", "function_%s")
        super().__init__(*args, **kwargs)
        suggest_name(self, function_names, blank=blank_name)


class ProducerSettingsForm(forms.Form):
    """What a producer does: its rate, its peaks and its bodies (also its row's edit form)."""

    rate = forms.FloatField(label="Rate (requests/s)", initial=1.0)
    peak_rate = forms.FloatField(label="Peak rate (/s)", initial=0.0)
    peak_every = forms.IntegerField(
        label="Peak every (s)", initial=0, help_text="0: no peaks. 3600: a peak hour."
    )
    peak_length = forms.IntegerField(label="Peak lasts (s)", initial=0)
    body_template = forms.CharField(
        label="Body",
        initial='{"order": {n}}',
        max_length=1024,
        help_text="{n}: the request's number; {producer}; {at}: the simulated time.",
    )

    SETTINGS = ("rate", "peak_rate", "peak_every", "peak_length", "body_template")

    def settings(self) -> dict:
        return {k: self.cleaned_data[k] for k in self.SETTINGS}


class CreateProducerForm(ProducerSettingsForm):
    name = forms.CharField(max_length=64, initial="shop")
    target = forms.ChoiceField(label="Calls", help_text="A function is called directly.")

    field_order = ["name", "target", *ProducerSettingsForm.SETTINGS]

    def __init__(self, *args, producer_names=(), targets=(), blank_name: bool = False, **kwargs):
        """`targets`: (group label, [(ARN, name), …]) for the queues, topics, functions."""
        kwargs.setdefault("auto_id", "producer_%s")
        super().__init__(*args, **kwargs)
        suggest_name(self, producer_names, blank=blank_name)
        self.fields["target"].choices = [(group, list(choices)) for group, choices in targets]


class CreateDatabaseForm(forms.Form):
    name = forms.CharField(max_length=64, initial="orders-db")
    capacity = forms.IntegerField(
        label="Capacity (writes/s)", initial=100, help_text="Writes it takes a simulated second."
    )
    latency = forms.FloatField(
        label="Latency (s)", initial=0.01, help_text="Each write adds this to a run."
    )

    def __init__(self, *args, database_names: list[str] = (), blank_name: bool = False, **kwargs):
        kwargs.setdefault("auto_id", "database_%s")
        super().__init__(*args, **kwargs)
        suggest_name(self, database_names, blank=blank_name)


class TriggerSettingsForm(forms.Form):
    """A trigger's batch size, window and maximum concurrency, changed in its row."""

    batch_size = forms.IntegerField()
    batching_window = forms.IntegerField()
    maximum_concurrency = forms.IntegerField(required=False)


class TestEventForm(forms.Form):
    event = forms.CharField(
        label="Event JSON",
        initial='{"key1": "value1"}',
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=262_144,
        help_text="Sent as a direct, synchronous Invoke: a throttled call is lost.",
    )


class AddTriggerForm(forms.Form):
    queue = forms.ChoiceField()
    function = forms.ChoiceField()
    batch_size = forms.IntegerField(
        label="Batch size", initial=10, help_text="1 to 10,000 (above 10, with a window)."
    )
    batching_window = forms.IntegerField(
        label="Batching window (s)",
        initial=0,
        help_text="0 to 300: how long to gather a batch.",
    )
    maximum_concurrency = forms.IntegerField(
        label="Maximum concurrency",
        initial=5,
        required=False,
        help_text="2 to 1,000 batches at once. Empty: no cap.",
    )
    report_batch_item_failures = forms.BooleanField(
        label="Report batch item failures", required=False
    )
    enabled = forms.BooleanField(label="Enabled", initial=True, required=False)

    def settings(self) -> dict:
        data = self.cleaned_data
        return {
            "batch_size": data["batch_size"],
            "batching_window": data["batching_window"],
            "maximum_concurrency": data["maximum_concurrency"],
            "function_response_types": ["ReportBatchItemFailures"]
            if data["report_batch_item_failures"]
            else [],
            "enabled": data["enabled"],
        }

    def __init__(
        self, *args, queue_names: list[str] = (), function_names: list[str] = (), **kwargs
    ):
        kwargs.setdefault("auto_id", "trigger_%s")
        super().__init__(*args, **kwargs)
        self.fields["queue"].choices = [(n, n) for n in queue_names]
        self.fields["function"].choices = [(n, n) for n in function_names]


class SendMessageForm(forms.Form):
    """Body plus rows of message attributes (`attr_name`, `attr_type`, `attr_value`)."""

    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, label="Message body"
    )
    delay_seconds = forms.IntegerField(
        label="Delivery delay (s)", required=False, help_text="Empty: the queue's delay."
    )
    group_id = forms.CharField(
        label="Message group ID",
        required=False,
        max_length=200,
        help_text="Messages of one group arrive in order.",
    )
    deduplication_id = forms.CharField(
        label="Deduplication ID",
        required=False,
        max_length=200,
        help_text="The same ID within 5 minutes is enqueued once. Empty: a hash of the "
        "body, if the queue has content-based deduplication.",
    )

    FIELD_MAP = {
        "MessageBody": "body",
        "MessageGroupId": "group_id",
        "MessageDeduplicationId": "deduplication_id",
        "DelaySeconds": "delay_seconds",
    }

    def __init__(self, *args, fifo: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fifo = fifo
        if fifo:
            # FIFO queues refuse a per-message delay; standard ones have no group order.
            del self.fields["delay_seconds"]
        else:
            del self.fields["group_id"]
            del self.fields["deduplication_id"]
        self.attribute_rows = attribute_rows(self.data) if self.is_bound else []

    def message_attributes(self) -> dict:
        return rows_as_attributes(self.attribute_rows)

    def send_arguments(self) -> dict:
        """Keyword arguments for `sqs.send_message`; empty optional fields are absent."""
        data = self.cleaned_data
        arguments = {"body": data["body"], "attributes": self.message_attributes()}
        if self.fifo:
            arguments["group_id"] = data["group_id"] or None
            arguments["deduplication_id"] = data["deduplication_id"] or None
        else:
            arguments["delay_seconds"] = data["delay_seconds"]
        return arguments

    def rows_for_display(self, empty: int = 1) -> list[dict]:
        return display_rows(self.attribute_rows, empty)


class PollForm(forms.Form):
    max_number = forms.IntegerField(label="Maximum messages", initial=10)
    visibility = forms.IntegerField(
        label="Visibility timeout (s)", required=False, help_text="Empty: the queue's timeout."
    )


class RedriveForm(forms.Form):
    """Start a message move task out of a dead-letter queue (StartMessageMoveTask)."""

    destination = forms.ChoiceField(label="Move messages to", required=False)
    rate = forms.IntegerField(
        label="Messages per second",
        required=False,
        help_text="1 to 500. Empty: as fast as SQS likes (100 here).",
    )

    FIELD_MAP = {"destination": "destination", "rate": "rate", "source": None}

    def __init__(self, *args, destinations: list[str] = (), **kwargs):
        kwargs.setdefault("auto_id", "redrive_%s")
        super().__init__(*args, **kwargs)
        self.fields["destination"].choices = [("", "their source queues")] + [
            (n, n) for n in destinations
        ]


class KmsQuotaForm(forms.Form):
    quota = forms.IntegerField(
        label="Request quota (per second)",
        min_value=1,
        max_value=100_000,
        help_text="KMS's shared quota for Decrypt and GenerateDataKey. AWS's default is "
        "5,500; lower it to watch KmsThrottled.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "kms_%s")
        super().__init__(*args, **kwargs)


class QueueAttributesForm(forms.Form):
    """Every settable attribute of a queue, as the strings SetQueueAttributes takes.

    Values are checked by `sqs.attribute_errors`, so the form refuses exactly what
    the API refuses, with the same words, next to the field.
    """

    VisibilityTimeout = forms.CharField(
        label="Visibility timeout (s)",
        help_text="How long a received message stays hidden from other consumers. 0 to 43,200.",
    )
    DelaySeconds = forms.CharField(
        label="Delivery delay (s)",
        help_text="How long a new message waits before it can be received. 0 to 900. On a "
        "FIFO queue a change also applies to the messages already waiting.",
    )
    MessageRetentionPeriod = forms.CharField(
        label="Retention period (s)",
        help_text="How long a message is kept before it vanishes. 60 (1 minute) to 1,209,600 "
        "(14 days).",
    )
    MaximumMessageSize = forms.CharField(
        label="Maximum message size (bytes)", help_text="Body plus attributes. 1,024 to 1,048,576."
    )
    ReceiveMessageWaitTimeSeconds = forms.CharField(
        label="Receive wait time (s)",
        help_text="Long polling: how long a receive waits for a message when the call names no "
        "wait. 0 to 20.",
    )
    RedrivePolicy = forms.CharField(
        label="Redrive policy",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='Where messages go after too many receives: {"deadLetterTargetArn": …, '
        '"maxReceiveCount": 1 to 1000}. Empty: none.',
    )
    RedriveAllowPolicy = forms.CharField(
        label="Redrive allow policy",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='As a dead-letter queue, which queues may send here: {"redrivePermission": '
        '"allowAll" | "denyAll" | "byQueue", "sourceQueueArns": […]}.',
    )
    Policy = forms.CharField(
        label="Access policy",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The queue's resource policy, a JSON document (stored as given).",
    )
    SqsManagedSseEnabled = forms.ChoiceField(
        label="SQS-managed encryption",
        choices=[("true", "on"), ("false", "off")],
        help_text="Server-side encryption with keys SQS owns.",
    )
    KmsMasterKeyId = forms.CharField(
        label="KMS key (SSE-KMS)",
        required=False,
        help_text="Key id, ARN or alias (alias/aws/sqs is AWS's own). Empty: no SSE-KMS. Naming a "
        "key turns SQS-managed encryption off.",
    )
    KmsDataKeyReusePeriodSeconds = forms.CharField(
        label="Data key reuse (s)",
        required=False,
        help_text="SSE-KMS: how long a data key is reused before SQS asks KMS again. 60 to 86,400.",
    )
    ContentBasedDeduplication = forms.ChoiceField(
        label="Content-based deduplication",
        choices=[("false", "off"), ("true", "on")],
        help_text="FIFO: with no deduplication ID, a SHA-256 of the body is used.",
    )
    DeduplicationScope = forms.ChoiceField(
        label="Deduplication scope",
        choices=[("queue", "queue"), ("messageGroup", "messageGroup")],
        help_text="FIFO: whether a deduplication ID is unique in the queue or in its group.",
    )
    FifoThroughputLimit = forms.ChoiceField(
        label="Throughput limit",
        choices=[("perQueue", "perQueue"), ("perMessageGroupId", "perMessageGroupId")],
        help_text="FIFO: perMessageGroupId (high throughput) needs scope messageGroup.",
    )

    FIFO_ONLY = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")

    def __init__(self, *args, fifo: bool = False, **kwargs):
        kwargs.setdefault("auto_id", "attr_%s")
        super().__init__(*args, **kwargs)
        if not fifo:
            for name in self.FIFO_ONLY:
                del self.fields[name]

    def changed(self, current: dict[str, str]) -> dict[str, str]:
        """The attributes whose value differs from the queue's."""
        changed = {
            name: value.strip() if isinstance(value, str) else value
            for name, value in self.cleaned_data.items()
            if (value or "") != current.get(name, "")
        }
        # The reuse period exists only with a key: an empty one just means "no KMS".
        if changed.get("KmsDataKeyReusePeriodSeconds") == "":
            del changed["KmsDataKeyReusePeriodSeconds"]
        return changed


class CreateTopicForm(forms.Form):
    name = forms.CharField(
        max_length=256,
        initial="MyTopic",
        help_text="Letters, digits, hyphens and underscores; a FIFO topic's name ends in .fifo.",
    )
    fifo = forms.BooleanField(
        label="FIFO topic: ordered per message group, deduplicated, to SQS queues only",
        required=False,
    )
    content_based_deduplication = forms.BooleanField(
        label="Content-based deduplication (FIFO)", required=False
    )

    def __init__(self, *args, topic_names: list[str] = (), blank_name: bool = False, **kwargs):
        kwargs.setdefault("auto_id", "topic_%s")
        super().__init__(*args, **kwargs)
        suggest_name(self, topic_names, blank=blank_name)

    def attributes(self) -> dict[str, str]:
        data = self.cleaned_data
        if not (data["fifo"] or data["name"].endswith(".fifo")):
            return {}
        attributes = {"FifoTopic": "true"}
        if data["content_based_deduplication"]:
            attributes["ContentBasedDeduplication"] = "true"
        return attributes


class TopicSettingsForm(forms.Form):
    """The topic attributes a learner changes in the browser (SetTopicAttributes)."""

    display_name = forms.CharField(
        label="Display name",
        required=False,
        max_length=100,
        help_text="The sender name of its email and SMS notifications.",
    )
    delivery_policy = forms.CharField(
        label="Delivery policy (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="HTTP/S retries, e.g. "
        '{"http": {"defaultHealthyRetryPolicy": {"numRetries": 5}}}. Empty: SNS\'s default.',
    )
    content_based_deduplication = forms.BooleanField(
        label="Content-based deduplication (FIFO)", required=False
    )

    # form field -> the SNS attribute it sets
    ATTRIBUTES = {
        "display_name": "DisplayName",
        "delivery_policy": "DeliveryPolicy",
        "content_based_deduplication": "ContentBasedDeduplication",
    }

    def __init__(self, *args, fifo: bool = False, **kwargs):
        kwargs.setdefault("auto_id", "topic_%s")
        super().__init__(*args, **kwargs)
        if not fifo:
            del self.fields["content_based_deduplication"]

    def changed(self, current: dict[str, str]) -> dict[str, str]:
        """The attributes whose value the form changes, as SNS writes them."""
        values = {}
        for name, attribute in self.ATTRIBUTES.items():
            if name not in self.fields:
                continue
            value = self.cleaned_data[name]
            text = ("true" if value else "false") if isinstance(value, bool) else value.strip()
            if text != current.get(attribute, ""):
                values[attribute] = text
        return values


class PublishForm(forms.Form):
    """Publish's fields, plus rows of message attributes like the send form's."""

    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    subject = forms.CharField(
        required=False, max_length=200, help_text="Email subscribers see it as the subject."
    )
    structure_json = forms.BooleanField(
        label='MessageStructure=json: the message is {"default": …, "sqs": …, "email": …}',
        required=False,
    )
    group_id = forms.CharField(label="Message group ID", required=False, max_length=200)
    deduplication_id = forms.CharField(label="Deduplication ID", required=False, max_length=200)

    def __init__(self, *args, fifo: bool = False, **kwargs):
        kwargs.setdefault("auto_id", "publish_%s")
        super().__init__(*args, **kwargs)
        self.fifo = fifo
        if not fifo:
            del self.fields["group_id"]
            del self.fields["deduplication_id"]
        self.attribute_rows = attribute_rows(self.data) if self.is_bound else []

    def publish_arguments(self) -> dict:
        data = self.cleaned_data
        arguments = {
            "message": data["message"],
            "subject": data["subject"] or None,
            "structure": "json" if data["structure_json"] else None,
            "attributes": rows_as_attributes(self.attribute_rows),
        }
        if self.fifo:
            arguments["group_id"] = data["group_id"] or None
            arguments["deduplication_id"] = data["deduplication_id"] or None
        return arguments

    def rows_for_display(self) -> list[dict]:
        return display_rows(self.attribute_rows)

    FIELDS = {
        "MessageGroupId": "group_id",
        "MessageDeduplicationId": "deduplication_id",
        "Subject": "subject",
        "message attribute": None,
        "Empty message": "message",
        "Message": "message",
    }


SUBSCRIBE_PROTOCOLS = [
    ("sqs", "SQS queue"),
    ("lambda", "Lambda function"),
    ("inbox", "HTTP request inbox (in this workspace)"),
    ("email", "Email (inbox in this workspace)"),
    ("email-json", "Email-JSON (inbox in this workspace)"),
    ("sms", "SMS (phone inbox in this workspace)"),
    ("http", "HTTP URL on this machine"),
    ("https", "HTTPS URL on this machine"),
]


class SubscribeForm(forms.Form):
    protocol = forms.ChoiceField(choices=SUBSCRIBE_PROTOCOLS)
    endpoint = forms.CharField(
        max_length=2048,
        help_text="A queue or function name, an inbox name, an email address, a phone number "
        "(+15550100) or a URL, as the protocol needs.",
    )
    raw = forms.BooleanField(
        label="Raw message delivery (SQS, HTTP): the bare message, no envelope", required=False
    )
    filter_policy = forms.CharField(
        label="Filter policy (JSON, optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": '{"kind": ["order"]}'}),
    )
    dead_letter_queue = forms.ChoiceField(
        label="Dead-letter queue",
        required=False,
        help_text="Gets what cannot be delivered. None: SNS discards it.",
    )
    allow_send = forms.BooleanField(
        label="Let the topic send to the queue and its DLQ (adds a statement to their "
        "access policies, as the AWS console does)",
        required=False,
        initial=True,
    )

    FIELDS = {
        "FilterPolicy": "filter_policy",
        "RedrivePolicy": "dead_letter_queue",
        "RawMessageDelivery": "raw",
        "protocol": "protocol",
        "Protocol": "protocol",
        "ndpoint": "endpoint",
        "SMS": "endpoint",
        "Email": "endpoint",
        "ARN": "endpoint",
    }

    def __init__(self, *args, queue_names: list[str] = (), **kwargs):
        kwargs.setdefault("auto_id", "subscribe_%s")
        super().__init__(*args, **kwargs)
        self.fields["dead_letter_queue"].choices = [("", "none"), *((n, n) for n in queue_names)]


class FilterPolicyForm(forms.Form):
    """A subscription's filter policy, and a sample message to test it against."""

    policy = forms.CharField(
        label="Filter policy",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "code"}),
        help_text="Empty: every message matches.",
    )
    scope = forms.ChoiceField(
        label="Applies to",
        choices=[("MessageAttributes", "Message attributes"), ("MessageBody", "Message body")],
        initial="MessageAttributes",
    )
    sample = forms.CharField(
        label="Sample message body",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "code"}),
    )

    def __init__(self, *args, prefix_id: str = "filter", **kwargs):
        kwargs.setdefault("auto_id", f"{prefix_id}_%s")
        super().__init__(*args, **kwargs)
        self.attribute_rows = attribute_rows(self.data) if self.is_bound else []

    def sample_attributes(self) -> dict:
        return rows_as_attributes(self.attribute_rows)

    def rows_for_display(self) -> list[dict]:
        return display_rows(self.attribute_rows)
