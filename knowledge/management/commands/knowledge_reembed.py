"""Re-embed chunks after the embedding model changes, workspace by workspace."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge import tasks
from knowledge.ingestion import maintenance
from tenancy.selectors import workspace_ids_for_system


class Command(BaseCommand):
    help = (
        "Embed every chunk whose vector is missing or was made by another model "
        "than the configured one (all chunks with --force)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--workspace", action="append", default=[], help="Only this workspace id."
        )
        parser.add_argument(
            "--force", action="store_true", help="Re-embed every chunk."
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Queue one embed task per workspace instead of working here.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            chosen = [uuid.UUID(value) for value in options["workspace"]]
        except ValueError as error:
            raise CommandError("--workspace takes a workspace id (UUID)") from error
        live = workspace_ids_for_system()
        workspace_ids = [w for w in live if not chosen or w in chosen]
        if chosen and len(workspace_ids) != len(set(chosen)):
            raise CommandError("unknown or deleted workspace id")

        total = 0
        for workspace_id in workspace_ids:
            if options["queue"]:
                tasks.embed_workspace_reembed.delay(str(workspace_id), options["force"])
                continue
            result = maintenance.workspace_reembed(
                workspace_id=workspace_id, force=options["force"]
            )
            total += result["chunks"]
            self.stdout.write(
                f"{workspace_id}: {result['chunks']} chunks, {result['tokens']} tokens"
            )
        if options["queue"]:
            self.stdout.write(f"queued {len(workspace_ids)} workspaces")
        else:
            self.stdout.write(
                f"re-embedded {total} chunks in {len(workspace_ids)} workspaces"
            )
