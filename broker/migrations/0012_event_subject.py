"""Events: a generic subject instead of a function column, and one naming scheme.

`Event.function` becomes `Event.subject` (`function:<name>`), so the next service
(SNS topics and subscriptions) needs no column of its own; event kinds are renamed to
`<subject>.<what happened>` (`lambda.mapping_created` → `mapping.created`). Stored
events are carried over, so an existing database keeps its timelines and logs. The
old column goes in 0013: PostgreSQL alters no table that the same transaction has
just updated rows of.
"""

from django.db import migrations, models
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr

RENAMED = {
    "lambda.function_created": "function.created",
    "lambda.function_updated": "function.updated",
    "lambda.log": "function.logged",
    "lambda.invocation_started": "invocation.started",
    "lambda.invocation_finished": "invocation.finished",
    "lambda.mapping_created": "mapping.created",
    "lambda.mapping_updated": "mapping.updated",
    "lambda.mapping_deleted": "mapping.deleted",
    "kms.key_created": "key.created",
    "kms.key_policy_changed": "key.policy_changed",
    "kms.key_enabled": "key.enabled",
    "kms.key_disabled": "key.disabled",
    "kms.alias_created": "key.alias_created",
    "kms.data_key_generated": "key.data_key_generated",
    "kms.data_key_decrypted": "key.data_key_decrypted",
    "kms.request_quota_changed": "account.kms_quota_changed",
    "kms.opt_in_changed": "account.kms_opt_in_changed",
}


def forward(apps, schema_editor):
    Event = apps.get_model("broker", "Event")
    Event.objects.exclude(function="").update(subject=Concat(Value("function:"), F("function")))
    for old, new in RENAMED.items():
        Event.objects.filter(kind=old).update(kind=new)


def backward(apps, schema_editor):
    Event = apps.get_model("broker", "Event")
    Event.objects.filter(subject__startswith="function:").update(
        function=Substr("subject", len("function:") + 1)
    )
    for old, new in RENAMED.items():
        Event.objects.filter(kind=new).update(kind=old)


class Migration(migrations.Migration):
    dependencies = [
        ("broker", "0011_reseal_kms_keys_under_the_generated_secret"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="subject",
            field=models.CharField(blank=True, max_length=160),
        ),
        migrations.RunPython(forward, backward),
    ]
