"""Load the demo organization, workspaces, agents, documents and API key.

Idempotent: a second run finds everything in place and changes nothing. The
generated passwords and the demo key are kept in ``.atrium/demo.json`` (mode
0600, ignored by git) so they can be shown again; if that file is lost, the
demo passwords are reset and the demo key rotated.
"""

from __future__ import annotations

import io
import json
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.models import User
from agents.models import Agent, ModelProvider
from knowledge.services import document_create
from tenancy import keys, services
from tenancy.context import as_user, as_workspace
from tenancy.models import APIKey, APIKeyScope, Organization, PlanTier, Workspace

DOCUMENTS = Path(__file__).resolve().parent.parent.parent / "demo"

ADMIN_EMAIL = "admin@atrium.local"
DEMO_EMAIL = "demo@atrium.local"

WORKSPACES: dict[str, dict[str, Any]] = {
    "support": {
        "name": "Customer Support",
        "description": "Product help, billing and API questions.",
        "documents": ["password-reset.md", "billing-policy.md", "api-limits.md"],
        "agents": {
            "tier1-support": (
                "Tier 1 Support",
                "You answer customers' questions briefly and kindly, citing the "
                "help articles you used.",
            ),
            "technical-support": (
                "Technical Support",
                "You help developers with API and integration questions, "
                "precisely and with citations.",
            ),
        },
    },
    "handbook": {
        "name": "Internal Handbook",
        "description": "What new employees need to know.",
        "documents": ["onboarding.md"],
        "agents": {
            "onboarding-assistant": (
                "Onboarding Assistant",
                "You help new employees find their way, citing the handbook.",
            ),
        },
    },
}


def credentials_path() -> Path:
    return Path(settings.ATRIUM_DEMO_CREDENTIALS)


class Command(BaseCommand):
    help = "Load Atrium's demo data (idempotent)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--show", action="store_true", help="Print where to sign in and the key."
        )

    def handle(self, *args: Any, show: bool = False, **options: Any) -> None:
        stored = self._load_credentials()
        admin, admin_password = self._user(
            ADMIN_EMAIL, stored.get("admin_password"), staff=True
        )
        demo, demo_password = self._user(DEMO_EMAIL, stored.get("demo_password"))

        with as_user(demo.pk):
            organization = self._organization(demo)
            workspaces = {
                slug: self._workspace(organization, slug, spec)
                for slug, spec in WORKSPACES.items()
            }
            api_key = self._api_key(workspaces["support"], demo, stored.get("api_key"))

        for slug, spec in WORKSPACES.items():
            self._fill_workspace(workspaces[slug], spec)

        credentials = {
            "admin_email": admin.email,
            "admin_password": admin_password,
            "demo_email": demo.email,
            "demo_password": demo_password,
            "api_key": api_key,
        }
        if credentials != stored:
            self._save_credentials(credentials)
        if show:
            self._show(credentials, workspaces["support"])

    # --- people ---------------------------------------------------------

    def _user(
        self, email: str, known_password: str | None, staff: bool = False
    ) -> tuple[User, str]:
        user = User.objects.filter(email__iexact=email).first()
        if user is not None and known_password and user.check_password(known_password):
            return user, known_password

        password = secrets.token_urlsafe(12)
        if user is None:
            user = User.objects.create_user(
                email,
                password,
                full_name="Atrium Admin" if staff else "Demo User",
                is_staff=staff,
                is_superuser=staff,
                email_verified=True,
            )
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        return user, password

    # --- tenancy --------------------------------------------------------

    def _organization(self, owner: User) -> Organization:
        organization = Organization.objects.filter(
            slug="acme", deleted_at__isnull=True
        ).first()
        if organization is not None:
            return organization
        return services.organization_create(
            actor=owner,
            name="Acme Support Co",
            slug="acme",
            contact_name="Demo User",
            plan_tier=PlanTier.PRO,
            max_workspaces=10,
            max_documents_per_workspace=5000,
            max_monthly_requests=100000,
            max_agents_per_workspace=20,
        )

    def _workspace(
        self, organization: Organization, slug: str, spec: dict[str, Any]
    ) -> Workspace:
        workspace = organization.workspaces.filter(
            slug=slug, deleted_at__isnull=True
        ).first()
        if workspace is not None:
            return workspace
        return services.workspace_create(
            organization=organization,
            name=spec["name"],
            slug=slug,
            description=spec["description"],
        )

    def _api_key(self, workspace: Workspace, owner: User, known: str | None) -> str:
        live = APIKey.objects.filter(
            workspace=workspace, name="Demo key", revoked_at__isnull=True
        )
        if known and any(keys.matches(known, key.key_hash) for key in live):
            return known
        for stale in live:
            services.api_key_revoke(api_key=stale, reason="demo key rotated")
        created = services.api_key_create(
            workspace=workspace,
            name="Demo key",
            scopes=[scope.value for scope in APIKeyScope],
            created_by=owner,
        )
        return created.raw_key

    # --- knowledge and agents -------------------------------------------

    def _fill_workspace(self, workspace: Workspace, spec: dict[str, Any]) -> None:
        with as_workspace(workspace.pk):
            for slug, (name, prompt) in spec["agents"].items():
                Agent.objects.get_or_create(
                    workspace=workspace,
                    slug=slug,
                    defaults={
                        "name": name,
                        "system_prompt": prompt,
                        "model_provider": ModelProvider.EXTRACTIVE,
                        "enabled_tools": ["hybrid_search", "get_document"],
                    },
                )
            added = 0
            for filename in spec["documents"]:
                # Through the product's own upload path: stored, deduplicated
                # by content, and queued for ingestion once this commits.
                result = document_create(
                    workspace=workspace,
                    file=io.BytesIO((DOCUMENTS / filename).read_bytes()),
                    filename=filename,
                )
                added += result.created
            if added:
                workspace.document_count += added
                workspace.save(update_fields=["document_count"])

    # --- credentials file -----------------------------------------------

    def _load_credentials(self) -> dict[str, str]:
        try:
            return json.loads(credentials_path().read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _save_credentials(self, credentials: dict[str, str]) -> None:
        path = credentials_path()
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(json.dumps(credentials, indent=2) + "\n")

    def _show(self, credentials: dict[str, str], workspace: Workspace) -> None:
        write = self.stdout.write
        write("")
        write("Atrium demo")
        write(f"  Dashboard user:  {credentials['demo_email']}")
        write(f"    password:      {credentials['demo_password']}")
        write(f"  Staff (admin):   {credentials['admin_email']}")
        write(f"    password:      {credentials['admin_password']}")
        write(f"  Demo API key (workspace {workspace.slug}, id {workspace.pk}):")
        write(f"    {credentials['api_key']}")
        write(f"  Kept in {credentials_path()}")
        write("")
