"""What SNS delivers: the JSON envelope of a notification, and its signature (sns.md §3).

Each workspace has an RSA key and a self-signed certificate of its own, made on first
use; the certificate is served at the envelope's SigningCertURL, so a subscriber
verifies a message the way the AWS SDKs' message validators do: fetch the certificate,
build the string to sign from the envelope's fields (`Name\\nValue\\n`, names in byte
order: Message, MessageId, Subject if any, Timestamp, TopicArn, Type), check the
signature with SHA1withRSA (SignatureVersion 1) or SHA256withRSA (2).
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from functools import lru_cache
from urllib.parse import quote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from django.db import IntegrityError, transaction

from broker.kms import keys
from broker.models import SigningCertificate, Subscription, Topic, Workspace

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}


def timestamp(at: float) -> str:
    """ISO-8601 in UTC with milliseconds and a Z, as SNS writes it."""
    moment = dt.datetime.fromtimestamp(at, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def certificate(workspace: Workspace) -> SigningCertificate:
    """The workspace's signing certificate, made (2048-bit RSA, self-signed) on first use."""
    found = SigningCertificate.objects.filter(workspace=workspace).first()
    if found is not None:
        return found
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SQS & SNS Playground"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(private, hashes.SHA256())
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    name = f"SimpleNotificationService-{secrets.token_hex(16)}.pem"
    try:
        with transaction.atomic():
            return SigningCertificate.objects.create(
                workspace=workspace,
                name=name,
                private_key=keys.seal_secret(pem, f"sns-signing:{workspace.pk}"),
                certificate=cert.public_bytes(serialization.Encoding.PEM).decode(),
            )
    except IntegrityError:  # made by another request meanwhile
        return SigningCertificate.objects.get(workspace=workspace)


def certificate_url(base_url: str, workspace: Workspace, cert: SigningCertificate) -> str:
    return f"{base_url.rstrip('/')}/_aws/sns/{workspace.account_id}/{cert.name}"


CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)


def string_to_sign(envelope: dict) -> str:
    fields = NOTIFICATION_FIELDS if envelope["Type"] == "Notification" else CONFIRMATION_FIELDS
    return "".join(f"{name}\n{envelope[name]}\n" for name in fields if name in envelope)


def _sign_into(envelope: dict, topic: Topic, base_url: str, cache: dict | None = None) -> None:
    """Sign the envelope. The string to sign leaves out the per-subscription URLs, so one
    publish's copies share a signature: `cache` (the publish's own) keeps it."""
    version = topic.attributes.get("SignatureVersion", "1")
    cache = {} if cache is None else cache
    if "certificate" not in cache:
        cache["certificate"] = certificate(topic.workspace)
    cert = cache["certificate"]
    text = string_to_sign(envelope)
    if (version, text) not in cache:
        cache[(version, text)] = sign(topic.workspace, cert, text, version)
    envelope["SignatureVersion"] = version
    envelope["Signature"] = cache[(version, text)]
    envelope["SigningCertURL"] = certificate_url(base_url, topic.workspace, cert)


def verifies(envelope: dict) -> bool:
    """Whether an envelope's signature checks out against its workspace's certificate, as
    the SDKs' validators check it (here from the stored certificate, not over HTTP)."""
    url = str(envelope.get("SigningCertURL") or "")
    name = url.rsplit("/", 1)[-1]
    cert = SigningCertificate.objects.filter(name=name).first() if name else None
    version = str(envelope.get("SignatureVersion") or "")
    if cert is None or version not in HASHES or "Signature" not in envelope:
        return False
    public = x509.load_pem_x509_certificate(cert.certificate.encode()).public_key()
    try:
        public.verify(
            base64.b64decode(envelope["Signature"]),
            string_to_sign(envelope).encode(),
            padding.PKCS1v15(),
            HASHES[version](),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


@lru_cache(maxsize=256)
def _private_key(workspace_pk: int, sealed: str):
    """The opened signing key (opening and parsing it costs more than signing)."""
    pem = keys.open_secret(sealed, f"sns-signing:{workspace_pk}")
    return serialization.load_pem_private_key(pem, password=None)


def sign(workspace: Workspace, cert: SigningCertificate, text: str, version: str) -> str:
    signature = _private_key(workspace.pk, cert.private_key).sign(
        text.encode(), padding.PKCS1v15(), HASHES[version]()
    )
    return base64.b64encode(signature).decode()


# The links in envelopes work unsigned, as AWS's do: a GET from a browser or curl.
LINKS_PATH = "/_aws/sns/"


def unsubscribe_url(base_url: str, subscription: Subscription) -> str:
    return (
        f"{base_url.rstrip('/')}{LINKS_PATH}?Action=Unsubscribe"
        f"&SubscriptionArn={quote(subscription.arn, safe='')}"
    )


def subscribe_url(base_url: str, topic: Topic, token: str) -> str:
    return (
        f"{base_url.rstrip('/')}{LINKS_PATH}?Action=ConfirmSubscription"
        f"&TopicArn={quote(topic.arn, safe='')}&Token={token}"
    )


def confirmation(
    kind: str,
    topic: Topic,
    subscription: Subscription,
    *,
    message_id: str,
    at: float,
    base_url: str,
) -> dict:
    """A SubscriptionConfirmation or UnsubscribeConfirmation (sns.md §3.2)."""
    if kind == "SubscriptionConfirmation":
        message = (
            f"You have chosen to subscribe to the topic {topic.arn}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message."
        )
    else:
        message = (
            f"You have chosen to deactivate subscription {subscription.arn}.\n"
            "To cancel this operation and restore the subscription, visit the SubscribeURL "
            "included in this message."
        )
    envelope = {
        "Type": kind,
        "MessageId": message_id,
        "Token": subscription.token,
        "TopicArn": topic.arn,
        "Message": message,
        "SubscribeURL": subscribe_url(base_url, topic, subscription.token),
        "Timestamp": timestamp(at),
    }
    _sign_into(envelope, topic, base_url)
    return envelope


def notification(
    topic: Topic,
    subscription: Subscription,
    *,
    message_id: str,
    message: str,
    subject: str | None,
    attributes: dict,
    at: float,
    base_url: str,
    sequence_number: str | None = None,
    signatures: dict | None = None,
) -> dict:
    """The envelope one subscription receives (sns.md §3.1); FIFO topics' envelopes are
    not signed, as AWS's are not. `signatures` caches the signature across copies."""
    envelope: dict = {"Type": "Notification", "MessageId": message_id}
    if sequence_number is not None:
        envelope["SequenceNumber"] = sequence_number
    envelope["TopicArn"] = topic.arn
    if subject is not None:
        envelope["Subject"] = subject
    envelope["Message"] = message
    envelope["Timestamp"] = timestamp(at)
    if not topic.is_fifo:
        _sign_into(envelope, topic, base_url, signatures)
    envelope["UnsubscribeURL"] = unsubscribe_url(base_url, subscription)
    if attributes:
        envelope["MessageAttributes"] = {
            name: {
                "Type": value["DataType"],
                "Value": value.get("StringValue", value.get("BinaryValue", "")),
            }
            for name, value in attributes.items()
        }
    return envelope
