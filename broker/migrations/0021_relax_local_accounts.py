from django.conf import settings
from django.db import migrations


def relax_local_accounts(apps, schema_editor):
    """The test-credential accounts that exist follow the new default for their kind."""
    Workspace = apps.get_model("broker", "Workspace")
    Workspace.objects.filter(local_convention=True).update(
        aws_strict=settings.PLAYGROUND_STRICT_LOCAL_ACCOUNTS
    )


class Migration(migrations.Migration):
    dependencies = [("broker", "0020_workspace_aws_strict")]

    operations = [migrations.RunPython(relax_local_accounts, migrations.RunPython.noop)]
