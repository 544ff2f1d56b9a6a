"""Add many messages to a queue at once (a bulk INSERT, no timeline entries).

    manage.py fill_queue 000000000000 orders 1000000
    manage.py fill_queue 000000000000 orders 120000 --in-flight 600
    manage.py fill_queue 000000000000 orders.fifo 100000 --groups 100

For benchmarks at depth, and for showing a class what a million messages, or
a queue at its in-flight limit, look like. See `broker.bulk.fill`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from broker import clock as clocks
from broker.models import Queue
from broker.sqs import bulk


class Command(BaseCommand):
    help = "Add COUNT messages to a queue with one bulk INSERT per 5,000."

    def add_arguments(self, parser):
        parser.add_argument("account_id")
        parser.add_argument("queue")
        parser.add_argument(
            "--region", default=settings.PLAYGROUND_REGION, help="the queue's region"
        )
        parser.add_argument("count", type=int)
        parser.add_argument(
            "--groups",
            type=int,
            default=0,
            help="spread them over this many message groups (FIFO queues)",
        )
        parser.add_argument(
            "--in-flight",
            type=float,
            default=0,
            metavar="SECONDS",
            help="as received once and hidden for SECONDS",
        )

    def handle(self, *args, account_id, queue, region, count, groups, in_flight, **options):
        found = (
            Queue.objects.select_related("workspace")
            .filter(workspace__account_id=account_id, workspace__region=region, name=queue)
            .first()
        )
        if found is None:
            raise CommandError(f"No queue {queue!r} in account {account_id}, {region}.")
        if found.is_fifo and not groups:
            raise CommandError("A FIFO queue's messages need --groups.")
        now = clocks.for_workspace(found.workspace).now()
        bulk.fill(found, count, now=now, groups=groups, in_flight_for=in_flight)
        self.stdout.write(f"{count:,} messages added to {queue}.")
