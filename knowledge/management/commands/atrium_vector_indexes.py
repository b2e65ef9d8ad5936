"""Create or drop per-workspace HNSW indexes as workspaces grow or shrink."""

from typing import Any

from django.core.management.base import BaseCommand

from knowledge.search.indexes import vector_indexes_sync


class Command(BaseCommand):
    help = (
        "Give every workspace past ATRIUM_VECTOR_INDEX_THRESHOLD embedded chunks "
        "its own HNSW index (built CONCURRENTLY, as the owner role). Run it on a "
        "schedule, e.g. every 10 minutes."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--threshold", type=int, default=None)

    def handle(self, *args: Any, threshold: int | None = None, **options: Any) -> None:
        for change in vector_indexes_sync(threshold=threshold):
            if change.action not in ("below", "kept") or options["verbosity"] > 1:
                self.stdout.write(
                    f"{change.workspace_id}: {change.action} ({change.chunks} chunks)"
                )
