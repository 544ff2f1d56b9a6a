"""Create a workspace and print its API credentials as JSON (for scripts and tests).

With the local credentials convention switched off (`PLAYGROUND_LOCAL_CREDENTIALS=false`)
only a workspace's own access key and secret are accepted (protocols.md §5).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from broker import workspaces


class Command(BaseCommand):
    help = "Create a workspace and print its credentials as JSON."

    def handle(self, *args, **options):
        workspace = workspaces.create_workspace()
        self.stdout.write(
            json.dumps(
                {
                    "account_id": workspace.account_id,
                    "access_key_id": workspace.access_key_id,
                    "secret_access_key": workspace.secret_access_key,
                    "region": workspace.region,
                }
            )
        )
