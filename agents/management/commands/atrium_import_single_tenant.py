"""Import a single-tenant agentic-RAG database into one Atrium workspace."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.legacy_import import Importer, ImportReport, ImportSourceError, Target


class Command(BaseCommand):
    help = (
        "Import the documents, chunks, sessions and messages of a single-tenant "
        "agentic-RAG database into a default organization, workspace and agent. "
        "Idempotent and resumable: run it again after an interruption."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--source",
            required=True,
            help="URL of the source PostgreSQL database (read only).",
        )
        parser.add_argument(
            "--owner-email",
            required=True,
            help="Owner of the new organization (created without a password).",
        )
        parser.add_argument("--organization-name", default="Default Organization")
        parser.add_argument("--organization-slug", default="default")
        parser.add_argument("--workspace-name", default="Default Workspace")
        parser.add_argument("--workspace-slug", default="default")
        parser.add_argument("--agent-name", default="General Assistant")
        parser.add_argument("--agent-slug", default="general")
        parser.add_argument("--batch-size", type=int, default=200)
        parser.add_argument(
            "--keep-embeddings-from",
            default="",
            metavar="MODEL",
            help=(
                "The embedding model that made the source's vectors. When it is "
                "this deployment's model (and the dimension matches), the vectors "
                "are kept; otherwise every chunk is embedded again."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        target = Target(
            owner_email=options["owner_email"],
            organization_name=options["organization_name"],
            organization_slug=options["organization_slug"],
            workspace_name=options["workspace_name"],
            workspace_slug=options["workspace_slug"],
            agent_name=options["agent_name"],
            agent_slug=options["agent_slug"],
        )
        importer = Importer(
            source_url=options["source"],
            target=target,
            batch_size=options["batch_size"],
            keep_embeddings_from=options["keep_embeddings_from"],
            progress=lambda line: self.stderr.write(line),
        )
        try:
            report = importer.run()
        except ImportSourceError as error:
            raise CommandError(f"{error.message} {error.details}") from None
        self._print(report)

    def _print(self, report: ImportReport) -> None:
        self.stdout.write(
            f"organization {report.organization_id}\n"
            f"workspace    {report.workspace_id}\n"
            f"agent        {report.agent_id}\n"
        )
        self.stdout.write(
            f"{'table':<10} {'source':>8} {'imported':>9} {'present':>8} {'skipped':>8}"
        )
        for table, counts in report.tables.items():
            self.stdout.write(
                f"{table:<10} {counts.source:>8} {counts.imported:>9}"
                f" {counts.present:>8} {counts.skipped:>8}"
            )
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        self.stdout.write(
            "Imported documents are embedded by the ingestion workers; watch them "
            "reach 'ready' on the Documents page or through the API."
        )
