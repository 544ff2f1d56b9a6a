"""Drop `Event.function` (carried into `Event.subject` by 0012) and index the subject."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("broker", "0012_event_subject"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="event", name="event_function"),
        migrations.RemoveField(model_name="event", name="function"),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(fields=["workspace", "subject", "id"], name="event_subject"),
        ),
    ]
