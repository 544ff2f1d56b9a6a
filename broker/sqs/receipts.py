"""Receipt handles: the token a receive hands out for one message and one visibility
window. It names the queue and the message with a nonce that every new receive
changes, so a handle from an earlier window can be told from the current one.
"""

from __future__ import annotations

import base64
import binascii

from broker import errors
from broker.models import Message, Queue


def receipt_handle(message: Message) -> str:
    raw = f"{message.queue_id}:{message.pk}:{message.receipt_nonce}".encode()
    return "AQEB" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_receipt_handle(queue: Queue, handle: str) -> tuple[int, str]:
    """Return (message pk, nonce) or raise ReceiptHandleIsInvalid."""
    invalid = errors.ReceiptHandleIsInvalid(
        f'The input receipt handle "{handle}" is not a valid receipt handle.'
    )
    if not handle or not handle.startswith("AQEB") or len(handle) > 1024:
        raise invalid
    token = handle[4:]
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        queue_pk, message_pk, nonce = raw.split(":")
        queue_pk, message_pk = int(queue_pk), int(message_pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid from None
    if queue_pk != queue.pk:
        raise invalid
    return message_pk, nonce
