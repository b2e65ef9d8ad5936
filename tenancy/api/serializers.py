"""Input and output shapes of the tenancy endpoints (kept apart on purpose)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from tenancy.models import (
    APIKey,
    APIKeyEnvironment,
    APIKeyScope,
    Organization,
    OrganizationMember,
    OrganizationRole,
    Workspace,
    WorkspaceMember,
    WorkspaceRole,
)


def _has_nul(value: Any) -> bool:
    """True if a NUL character hides anywhere in ``value`` (keys included).

    PostgreSQL cannot store NUL in text or jsonb; refuse it up front.
    """
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


class StrictSerializer(serializers.Serializer):
    """Refuses unknown fields and NUL characters instead of failing later."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            bad = sorted(str(k) for k, v in data.items() if _has_nul(k) or _has_nul(v))
            if bad:
                raise serializers.ValidationError(
                    {name: ["NUL characters are not allowed."] for name in bad},
                    code="null_character",
                )
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown}, code="unknown_field"
                )
        return super().to_internal_value(data)


# --- organizations -----------------------------------------------------------


class OrganizationOut(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = [
            "id",
            "name",
            "slug",
            "plan_tier",
            "subscription_status",
            "contact_email",
            "contact_name",
            "settings",
            "max_workspaces",
            "max_documents_per_workspace",
            "max_monthly_requests",
            "max_agents_per_workspace",
            "created_at",
            "updated_at",
            "role",
        ]
        read_only_fields = fields

    def get_role(self, organization: Organization) -> str | None:
        roles: dict[Any, str] = self.context.get("roles", {})
        return roles.get(organization.pk)


class OrganizationCreateIn(StrictSerializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80, required=False)
    contact_email = serializers.EmailField(required=False)
    contact_name = serializers.CharField(max_length=200, required=False)


class OrganizationUpdateIn(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    contact_email = serializers.EmailField(required=False)
    contact_name = serializers.CharField(
        max_length=200, required=False, allow_blank=True
    )
    settings = serializers.DictField(required=False)


# --- workspaces --------------------------------------------------------------


class WorkspaceOut(serializers.ModelSerializer):
    class Meta:
        model = Workspace
        fields = [
            "id",
            "organization_id",
            "name",
            "slug",
            "description",
            "settings",
            "document_count",
            "total_tokens_used",
            "monthly_requests",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WorkspaceCreateIn(StrictSerializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    settings = serializers.DictField(required=False)


class WorkspaceUpdateIn(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    slug = serializers.SlugField(max_length=80, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    settings = serializers.DictField(required=False)


# --- members -----------------------------------------------------------------


class MemberUserOut(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    full_name = serializers.CharField()


class OrganizationMemberOut(serializers.ModelSerializer):
    user = MemberUserOut()

    class Meta:
        model = OrganizationMember
        fields = ["user", "role", "created_at"]
        read_only_fields = fields


class WorkspaceMemberOut(serializers.ModelSerializer):
    user = MemberUserOut()

    class Meta:
        model = WorkspaceMember
        fields = ["user", "role", "created_at"]
        read_only_fields = fields


class MemberAddIn(StrictSerializer):
    """Name the user by id or by email address (one of the two)."""

    user_id = serializers.UUIDField(required=False)
    email = serializers.EmailField(required=False)
    role = serializers.CharField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("user_id" in attrs) == ("email" in attrs):
            raise serializers.ValidationError(
                "Give exactly one of user_id and email.", code="user_required"
            )
        return attrs


class OrganizationMemberAddIn(MemberAddIn):
    role = serializers.ChoiceField(  # type: ignore[assignment]
        choices=OrganizationRole.choices, default=OrganizationRole.MEMBER
    )


class WorkspaceMemberAddIn(MemberAddIn):
    role = serializers.ChoiceField(  # type: ignore[assignment]
        choices=WorkspaceRole.choices, default=WorkspaceRole.MEMBER
    )


class OrganizationRoleIn(StrictSerializer):
    role = serializers.ChoiceField(choices=OrganizationRole.choices)


class WorkspaceRoleIn(StrictSerializer):
    role = serializers.ChoiceField(choices=WorkspaceRole.choices)


# --- API keys ----------------------------------------------------------------


class APIKeyOut(serializers.ModelSerializer):
    """A key as lists show it: its prefix, never the secret or its hash."""

    class Meta:
        model = APIKey
        fields = [
            "id",
            "name",
            "prefix",
            "environment",
            "scopes",
            "rate_limit_per_minute",
            "is_active",
            "last_used_at",
            "expires_at",
            "created_at",
            "revoked_at",
        ]
        read_only_fields = fields


class APIKeyCreatedOut(APIKeyOut):
    key = serializers.CharField(
        help_text="The full key. Shown once, in this response only."
    )

    class Meta(APIKeyOut.Meta):
        fields = [*APIKeyOut.Meta.fields, "key"]
        read_only_fields = fields


class APIKeyCreateIn(StrictSerializer):
    name = serializers.CharField(max_length=100)
    environment = serializers.ChoiceField(
        choices=APIKeyEnvironment.choices, default=APIKeyEnvironment.LIVE
    )
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=APIKeyScope.choices),
        allow_empty=False,
        required=False,
    )
    rate_limit_per_minute = serializers.IntegerField(
        min_value=1, max_value=10_000, default=60
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate_expires_at(self, value: Any) -> Any:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError(
                "Must be in the future.", code="expiry_in_past"
            )
        return value

    def validate_scopes(self, value: list[str]) -> list[str]:
        return sorted(set(value))
