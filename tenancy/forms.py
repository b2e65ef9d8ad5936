"""Forms of the dashboard's organization and workspace pages."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any, cast

from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from tenancy.models import (
    APIKeyEnvironment,
    APIKeyScope,
    OrganizationRole,
    Workspace,
    WorkspaceRole,
    default_api_key_scopes,
)


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)
    description = forms.CharField(
        max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


# Bounds of the knowledge pipeline's chunking (knowledge.ingestion.chunking),
# restated because tenancy may not import knowledge; a test keeps them equal.
# The pipeline clamps stored values into these bounds anyway: the form only
# tells an admin early instead of quietly using another value.
CHUNK_SIZE_DEFAULT = 1000
CHUNK_SIZE_MIN = 100
CHUNK_SIZE_MAX = 8000
CHUNK_OVERLAP_DEFAULT = 150

# Large enough for any real budget, small enough to stay a PostgreSQL integer.
_BIG = 2_000_000_000

# Workspace.settings keys the form edits; other keys are kept as they are.
SETTING_KEYS = (
    "chunk_size",
    "chunk_overlap",
    "graph_budget_episodes",
    "chat_token_budget",
    "chat_daily_token_budget",
    "chat_max_steps",
)


def _override(
    label: str, default: int, meaning: str, *, min_value: int, max_value: int
) -> forms.Field:
    return forms.IntegerField(
        label=label,
        required=False,
        help_text=f"{meaning} Leave empty for the server default ({default:,}).",
        widget=forms.NumberInput(attrs={"placeholder": f"{default}"}),
        min_value=min_value,
        max_value=max_value,
    )


class WorkspaceSettingsForm(forms.Form):
    """What an admin may change of a workspace, through ``workspace_update``."""

    name = forms.CharField(max_length=200, strip=True)
    slug = forms.SlugField(
        max_length=80,
        help_text="Short name in URLs; unique within the organization.",
    )
    description = forms.CharField(
        max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        stored = workspace.settings or {}
        initial = {
            "name": workspace.name,
            "slug": workspace.slug,
            "description": workspace.description,
            **{key: stored.get(key) for key in SETTING_KEYS},
        }
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.fields.update(
            {
                "chunk_size": _override(
                    "Chunk size (characters)",
                    CHUNK_SIZE_DEFAULT,
                    "Length of the passages documents are cut into.",
                    min_value=CHUNK_SIZE_MIN,
                    max_value=CHUNK_SIZE_MAX,
                ),
                "chunk_overlap": _override(
                    "Chunk overlap (characters)",
                    CHUNK_OVERLAP_DEFAULT,
                    "Text repeated from the previous passage; at most half the"
                    " chunk size.",
                    min_value=0,
                    max_value=CHUNK_SIZE_MAX // 2,
                ),
                "graph_budget_episodes": _override(
                    "Graph extraction budget (passages per period)",
                    int(settings.ATRIUM_GRAPH_BUDGET_EPISODES),
                    "Passages sent to knowledge-graph extraction per period; 0"
                    " turns the budget off.",
                    min_value=0,
                    max_value=_BIG,
                ),
                "chat_token_budget": _override(
                    "Tokens per answer",
                    int(settings.ATRIUM_CHAT_TOKEN_BUDGET),
                    "Model tokens one chat answer may spend, all steps together.",
                    min_value=1,
                    max_value=_BIG,
                ),
                "chat_daily_token_budget": _override(
                    "Chat tokens per day",
                    int(settings.ATRIUM_CHAT_DAILY_TOKEN_BUDGET),
                    "Model tokens the workspace's chats may spend each day; 0 means"
                    " no daily limit.",
                    min_value=0,
                    max_value=_BIG,
                ),
                "chat_max_steps": _override(
                    "Steps per answer",
                    int(settings.ATRIUM_CHAT_MAX_STEPS),
                    "Model turns (each may call tools) before an answer must end.",
                    min_value=1,
                    max_value=100,
                ),
            }
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        size = data.get("chunk_size") or CHUNK_SIZE_DEFAULT
        overlap = data.get("chunk_overlap")
        if overlap is not None and overlap > size // 2:
            self.add_error(
                "chunk_overlap",
                f"At most half the chunk size ({size // 2:,} characters).",
            )
        return data

    def changed_fields(self) -> dict[str, Any]:
        """The ``workspace_update`` fields that differ from what is stored."""
        data = self.cleaned_data
        workspace = self.workspace
        fields: dict[str, Any] = {
            name: data[name]
            for name in ("name", "slug", "description")
            if data[name] != getattr(workspace, name)
        }
        stored = dict(workspace.settings or {})
        wanted = dict(stored)
        for key in SETTING_KEYS:
            if data.get(key) is None:
                wanted.pop(key, None)
            else:
                wanted[key] = data[key]
        if wanted != stored:
            fields["settings"] = wanted
        return fields


class WorkspaceDeleteForm(forms.Form):
    """Deleting asks for the workspace's name, typed out."""

    confirm_name = forms.CharField(label="Type the workspace's name to confirm")

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.workspace = workspace

    def clean_confirm_name(self) -> str:
        typed = str(self.cleaned_data["confirm_name"]).strip()
        if typed != self.workspace.name.strip():
            raise forms.ValidationError(
                "That is not the workspace's name; nothing was deleted.",
                code="name_mismatch",
            )
        return typed


_EXPIRY_CHOICES = [
    ("", "Never"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
    ("custom", "On a date…"),
]


class APIKeyCreateForm(forms.Form):
    """The dashboard's face of ``APIKeyCreateIn``, which still validates it."""

    name = forms.CharField(
        max_length=100, help_text="Where the key is used, e.g. “Support widget”."
    )
    environment = forms.ChoiceField(
        choices=APIKeyEnvironment.choices,
        initial=APIKeyEnvironment.LIVE,
        widget=forms.RadioSelect,
        help_text="Test keys are metered apart and never billed.",
    )
    scopes = forms.MultipleChoiceField(
        choices=APIKeyScope.choices,
        initial=default_api_key_scopes,
        widget=forms.CheckboxSelectMultiple,
        help_text="What programs holding the key may do.",
    )
    expiry = forms.ChoiceField(choices=_EXPIRY_CHOICES, required=False, label="Expires")
    expires_on = forms.DateField(
        required=False,
        label="Expiry date",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The key stops working at the start of this day (UTC).",
    )
    rate_limit_per_minute = forms.IntegerField(
        label="Rate limit (requests per minute)", initial=60
    )
    # Refreshing the page after creating a key must not create a second one.
    nonce = forms.CharField(widget=forms.HiddenInput)

    def api_input(self) -> dict[str, Any]:
        """The request body the API would receive for this key."""
        data = self.cleaned_data
        body: dict[str, Any] = {
            "name": data["name"],
            "environment": data["environment"],
            "scopes": list(data["scopes"]),
            "rate_limit_per_minute": data["rate_limit_per_minute"],
        }
        expiry = data.get("expiry")
        if expiry == "custom":
            day = data.get("expires_on")
            if day is None:
                self.add_error("expires_on", "Choose the day the key expires.")
            else:
                body["expires_at"] = datetime.combine(day, time.min, tzinfo=UTC)
        elif expiry:
            body["expires_at"] = timezone.now() + timedelta(days=int(expiry))
        return body


ORGANIZATION_ROLE_HELP = (
    "Owners and admins manage the organization, its people, billing and every "
    "workspace. Members and viewers work in the workspaces they are given."
)
WORKSPACE_ROLE_HELP = (
    "Admins manage the workspace's people, keys and settings; members add "
    "documents, agents and chats; viewers read and chat."
)


class OrganizationInvitationForm(forms.Form):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"})
    )
    role = forms.ChoiceField(
        choices=OrganizationRole.choices,
        initial=OrganizationRole.MEMBER,
        help_text=ORGANIZATION_ROLE_HELP,
    )


class WorkspaceInvitationForm(forms.Form):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"})
    )
    role = forms.ChoiceField(
        choices=WorkspaceRole.choices,
        initial=WorkspaceRole.MEMBER,
        help_text=WORKSPACE_ROLE_HELP,
    )


class OrganizationRoleForm(forms.Form):
    role = forms.ChoiceField(choices=OrganizationRole.choices)


class WorkspaceRoleForm(forms.Form):
    role = forms.ChoiceField(choices=WorkspaceRole.choices)


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.full_name} ({obj.email})" if obj.full_name else str(obj.email)


class WorkspaceMemberAddForm(forms.Form):
    """Grant a workspace role to someone already in the organization."""

    user = PersonChoiceField(
        queryset=User.objects.none(), label="Person", empty_label="Choose a person"
    )
    role = forms.ChoiceField(
        choices=WorkspaceRole.choices,
        initial=WorkspaceRole.MEMBER,
        help_text=WORKSPACE_ROLE_HELP,
    )

    def __init__(self, *args: Any, candidates: QuerySet[User], **kwargs: Any):
        super().__init__(*args, **kwargs)
        cast(PersonChoiceField, self.fields["user"]).queryset = candidates
