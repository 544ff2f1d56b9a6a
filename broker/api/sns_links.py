"""The links in SNS's messages: SubscribeURL and UnsubscribeURL (sns.md §2.2, §3.2).

They work unsigned, as AWS's do: whoever holds the link (the endpoint's owner, a
browser, curl) confirms the subscription with its token, or unsubscribes with the
subscription's ARN (unguessable: it ends in a random UUID). The answer is SNS's XML.
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.views.decorators.http import require_GET

from broker import arns, errors, sns
from broker import clock as clocks
from broker.api import sns_query
from broker.api.errors import query_error
from broker.models import Workspace


def _workspace(arn: str, what: str) -> Workspace:
    parsed = arns.parse(arn)
    workspace = (
        Workspace.objects.filter(account_id=parsed.account, region=parsed.region).first()
        if parsed is not None and parsed.service == "sns"
        else None
    )
    if workspace is None:
        raise errors.SnsNotFound(f"{what} does not exist")
    return workspace


def _base_url(request) -> str:
    return f"{request.scheme}://{request.get_host()}"


@require_GET
def subscription_link(request):
    action = request.GET.get("Action", "")
    request_id = str(uuid.uuid4())
    try:
        if action == "ConfirmSubscription":
            arn = request.GET.get("TopicArn", "")
            workspace = _workspace(arn, "Topic")
            with transaction.atomic():
                subscription = sns.confirm_subscription(
                    sns.get_topic(workspace, arn),
                    request.GET.get("Token", ""),
                    authenticated=False,
                    clock=clocks.for_workspace(workspace),
                )
            return sns_query.render(action, {"SubscriptionArn": subscription.arn}, request_id)
        if action == "Unsubscribe":
            arn = request.GET.get("SubscriptionArn", "")
            workspace = _workspace(arn, "Subscription")
            with transaction.atomic():
                sns.unsubscribe(
                    workspace,
                    arn,
                    authenticated=False,
                    base_url=_base_url(request),
                    clock=clocks.for_workspace(workspace),
                )
            return sns_query.render(action, {}, request_id)
        raise errors.SnsInvalidParameter(
            "Invalid parameter: Action Reason: this link confirms (ConfirmSubscription) or "
            "ends (Unsubscribe) a subscription"
        )
    except errors.AwsError as error:
        return query_error(error, request_id, xmlns=sns_query.XMLNS)
