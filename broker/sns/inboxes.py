"""The endpoints built into a workspace that SNS delivers to, and SMS's account settings.

An HTTP/S subscription to `<endpoint>/_aws/inbox/<account>/<name>` delivers into the
request inbox `name`; an email or email-json subscription into the inbox of its
address; an SMS subscription, or a Publish to a PhoneNumber, into the phone's inbox.
Inboxes are made on first use. A request inbox answers as its learner sets it (200,
500, or no answer within 15 s) so that the retry phases can be watched. A phone that
replies STOP is opted out: SNS sends it nothing more until OptInPhoneNumber (sns.md
§9's SMS actions).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from broker import errors, events
from broker.models import Inbox, InboxMessage

INBOX_PATH = re.compile(r"^/_aws/inbox/(?P<account>\d{12})/(?P<name>[A-Za-z0-9_.-]{1,64})/?$")
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
PAGE = 100
SMS_ATTRIBUTES = {
    "DefaultSMSType": ("Promotional", "Transactional"),
    "DefaultSenderID": None,
    "MonthlySpendLimit": None,
    "DeliveryStatusIAMRole": None,
    "DeliveryStatusSuccessSamplingRate": None,
    "UsageReportS3Bucket": None,
}


def inbox_url(base_url: str, workspace, name: str) -> str:
    return f"{base_url.rstrip('/')}/_aws/inbox/{workspace.account_id}/{name}"


def request_inbox_name(workspace, url: str) -> str | None:
    """The name of this workspace's request inbox a URL points at, or None (a real URL)."""
    try:
        match = INBOX_PATH.match(urlsplit(url).path)
    except ValueError:  # not a URL urlsplit can read: not an inbox either
        return None
    if match is None or match["account"] != workspace.account_id:
        return None
    return match["name"]


INBOX_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def is_address(kind: str, address: str) -> bool:
    """Whether an inbox of that kind can have this address."""
    if kind == Inbox.Kind.HTTP:
        return bool(INBOX_NAME.match(address))
    if kind == Inbox.Kind.SMS:
        return bool(E164.match(address))
    return is_email(address) and "/" not in address


def is_email(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def inbox(workspace, kind: str, address: str, *, clock) -> Inbox:
    """The workspace's inbox of that kind and address, made on first use (recorded as
    `inbox.created`: the pipeline draws it)."""
    found = Inbox.objects.filter(workspace=workspace, kind=kind, address=address).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            box = Inbox.objects.create(workspace=workspace, kind=kind, address=address)
    except IntegrityError:  # made by another delivery meanwhile
        return Inbox.objects.get(workspace=workspace, kind=kind, address=address)
    events.record(
        workspace,
        "inbox.created",
        subject=events.subject("inbox", f"{kind}:{address}"),
        data={"inbox": box.pk, "kind": kind, "address": address},
        clock=clock,
    )
    return box


def receive(
    box: Inbox,
    *,
    message_type: str,
    body: str,
    message_id: str = "",
    subject: str = "",
    headers: dict | None = None,
    status: int | None = None,
    topic: str = "",
    clock,
) -> InboxMessage:
    """Keep what an inbox received; records `inbox.received`."""
    received = InboxMessage.objects.create(
        inbox=box,
        at=clock.now(),
        message_type=message_type,
        message_id=message_id,
        subject=subject[:256],
        headers=headers or {},
        body=body,
        status=status,
    )
    events.record(
        box.workspace,
        "inbox.received",
        subject=events.subject("inbox", f"{box.kind}:{box.address}"),
        message_id=message_id,
        data={
            "inbox": box.pk,
            "kind": box.kind,
            "address": box.address,
            "message_type": message_type,
            "status": status,
            "topic": topic,
        },
        clock=clock,
    )
    return received


@transaction.atomic
def set_mode(box: Inbox, mode: str, *, clock) -> None:
    """How a request inbox answers from now on: 200, 500 or not at all."""
    if box.kind != Inbox.Kind.HTTP or mode not in Inbox.Mode.values:
        raise errors.SnsInvalidParameter(f"Invalid parameter: mode {mode[:20]}")
    box.mode = mode
    box.save(update_fields=["mode"])
    events.record(
        box.workspace,
        "inbox.updated",
        subject=events.subject("inbox", f"{box.kind}:{box.address}"),
        data={"inbox": box.pk, "mode": mode},
        clock=clock,
    )


# --- SMS ---------------------------------------------------------------------------


def checked_number(number: str, what: str = "phoneNumber") -> str:
    number = str(number or "").strip()
    if not E164.match(number):
        raise errors.SnsInvalidParameter(
            f"Invalid parameter: {what} Reason: {number[:40]} is not an E.164 phone number "
            "(a + and up to 15 digits)"
        )
    return number


def is_opted_out(workspace, number: str) -> bool:
    number = checked_number(number)
    return Inbox.objects.filter(
        workspace=workspace, kind=Inbox.Kind.SMS, address=number, opted_out=True
    ).exists()


@transaction.atomic
def set_opted_out(workspace, number: str, opted_out: bool, *, clock) -> None:
    """STOP from the phone (the inbox's button) or OptInPhoneNumber."""
    box = inbox(workspace, Inbox.Kind.SMS, checked_number(number), clock=clock)
    if box.opted_out == opted_out:
        return
    box.opted_out = opted_out
    box.save(update_fields=["opted_out"])
    events.record(
        workspace,
        "inbox.updated",
        subject=events.subject("inbox", f"sms:{box.address}"),
        data={"inbox": box.pk, "opted_out": opted_out},
        clock=clock,
    )


def list_opted_out(workspace, *, next_token: str = "") -> tuple[list[str], str]:
    numbers = Inbox.objects.filter(workspace=workspace, kind=Inbox.Kind.SMS, opted_out=True)
    if next_token:
        if not next_token.isdigit():
            raise errors.SnsInvalidParameter("Invalid parameter: nextToken")
        numbers = numbers.filter(pk__gt=int(next_token))
    page = list(numbers.order_by("pk").values_list("pk", "address")[: PAGE + 1])
    more = len(page) > PAGE
    page = page[:PAGE]
    return [address for _, address in page], str(page[-1][0]) if more else ""


def get_sms_attributes(workspace, names: list[str]) -> dict[str, str]:
    stored = workspace.sms_attributes
    return {k: v for k, v in stored.items() if not names or k in names}


@transaction.atomic
def set_sms_attributes(workspace, attributes: dict, *, clock) -> None:
    for name, value in attributes.items():
        choices = SMS_ATTRIBUTES.get(name, ())
        if name not in SMS_ATTRIBUTES:
            raise errors.SnsInvalidParameter(f"Invalid parameter: {str(name)[:60]}")
        if choices and value not in choices:
            raise errors.SnsInvalidParameter(
                f"Invalid parameter: {name} Reason: must be one of {', '.join(choices)}"
            )
        if name == "DeliveryStatusSuccessSamplingRate" and not (
            str(value).isdigit() and int(value) <= 100
        ):
            raise errors.SnsInvalidParameter(
                f"Invalid parameter: {name} Reason: must be an integer from 0 to 100"
            )
        if name == "MonthlySpendLimit" and not str(value).isdigit():
            raise errors.SnsInvalidParameter(
                f"Invalid parameter: {name} Reason: must be a whole number of US dollars"
            )
    workspace.sms_attributes = {**workspace.sms_attributes, **attributes}
    workspace.save(update_fields=["sms_attributes"])
    events.record(
        workspace, "account.sms_changed", data={"attributes": sorted(attributes)}, clock=clock
    )
