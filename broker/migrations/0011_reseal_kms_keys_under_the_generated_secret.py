"""Carry KMS keys made under the old fixed development SECRET_KEY over to the key that is
now generated at random per installation.

Before, `make run` used a SECRET_KEY written in the source; every KMS key's material (and
so every message encrypted at rest, SSE-SQS included) was sealed under a root derived from
it. This reseals such material under the current SECRET_KEY, so an existing
playground.sqlite3 keeps every message readable. The old key appears here only to open
what was sealed under it, once.
"""

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import migrations

LEGACY_DEVELOPMENT_SECRET = "dev-only-insecure-secret-key-change-me"


def root(secret: str) -> AESGCM:
    return AESGCM(
        HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"sqs-sns-playground kms root"
        ).derive(secret.encode())
    )


def reseal(material: str, key_id: str, old: AESGCM, new: AESGCM) -> str | None:
    """The material sealed under `new`, or None when it is not sealed under `old`."""
    sealed, aad = base64.b64decode(material), key_id.encode()
    try:
        new.decrypt(sealed[:12], sealed[12:], aad)
        return None  # already under the current key
    except InvalidTag:
        pass
    try:
        plain = old.decrypt(sealed[:12], sealed[12:], aad)
    except InvalidTag:
        return None  # under some other key: KMS reports it (KmsInvalidState)
    nonce = os.urandom(12)
    return base64.b64encode(nonce + new.encrypt(nonce, plain, aad)).decode()


def reseal_keys(apps, schema_editor):
    if settings.SECRET_KEY == LEGACY_DEVELOPMENT_SECRET:
        return
    old, new = root(LEGACY_DEVELOPMENT_SECRET), root(settings.SECRET_KEY)
    KmsKey = apps.get_model("broker", "KmsKey")
    for key in KmsKey.objects.exclude(material="").only("pk", "key_id", "material").iterator():
        material = reseal(key.material, key.key_id, old, new)
        if material is not None:
            KmsKey.objects.filter(pk=key.pk).update(material=material)


class Migration(migrations.Migration):
    dependencies = [
        ("broker", "0010_mapping_poll_error"),
    ]

    operations = [
        migrations.RunPython(reseal_keys, migrations.RunPython.noop),
    ]
