"""Check a queue's delivery record: nothing lost, one receiver per visibility window.

    manage.py audit_queue 000000000000 orders

Prints `broker.audit.delivery_report` as JSON; exits 1 when a message was lost
or handed to two receivers inside one visibility window.
"""

from __future__ import annotations

import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from broker.models import Queue
from broker.sqs import audit


class Command(BaseCommand):
    help = "Audit a queue's timeline: lost messages and overlapping receives (JSON)."

    def add_arguments(self, parser):
        parser.add_argument("account_id")
        parser.add_argument("queue")
        parser.add_argument(
            "--region", default=settings.PLAYGROUND_REGION, help="the queue's region"
        )

    def handle(self, *args, account_id, queue, region, **options):
        found = Queue.objects.filter(
            workspace__account_id=account_id, workspace__region=region, name=queue
        ).first()
        if found is None:
            raise CommandError(f"No queue {queue!r} in account {account_id}, {region}.")
        report = audit.delivery_report(found)
        self.stdout.write(json.dumps(report.as_dict(), indent=2))
        if not report.ok:
            sys.exit(1)
