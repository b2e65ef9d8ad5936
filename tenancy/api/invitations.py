"""Invitations over HTTP: list, create and revoke them; accept one.

The same services as the People page (``tenancy.invitations``); the token is
only ever in the email, never in a response.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from tenancy import invitations
from tenancy.api.access import InsufficientRole, KeyNotAllowed, NotFound, Rule
from tenancy.api.base import APIView, OrganizationAPIView
from tenancy.api.docs import ERRORS
from tenancy.api.serializers import StrictSerializer
from tenancy.models import Invitation, OrganizationRole, Workspace, WorkspaceRole

VIEWER, ADMIN, OWNER = "viewer", "admin", "owner"


class InvitationOut(serializers.ModelSerializer):
    workspace_id = serializers.UUIDField(allow_null=True)
    invited_by = serializers.EmailField(source="invited_by.email", allow_null=True)
    status = serializers.CharField()

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "role",
            "workspace_id",
            "invited_by",
            "status",
            "created_at",
            "expires_at",
        ]
        read_only_fields = fields


class InvitationCreateIn(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(
        choices=sorted(set(OrganizationRole.values) | set(WorkspaceRole.values)),
        help_text="An organization role, or a workspace role with workspace_id.",
    )
    workspace_id = serializers.UUIDField(required=False)


class InvitationAcceptIn(StrictSerializer):
    token = serializers.CharField(max_length=200)


class InvitationAcceptedOut(serializers.Serializer):
    organization_id = serializers.UUIDField()
    workspace_id = serializers.UUIDField(allow_null=True)
    role = serializers.CharField()


class OrganizationInvitationsView(OrganizationAPIView):
    access = {"GET": Rule(role=VIEWER), "POST": Rule(role=ADMIN)}

    @extend_schema(
        operation_id="organizations_invitations_list",
        responses={200: InvitationOut(many=True), **ERRORS},
        description="Pending invitations, to the organization or its workspaces.",
    )
    def get(self, request: Request, organization_id: uuid.UUID) -> Response:
        pending = invitations.invitation_list(organization=self.organization)
        page = self.paginate_queryset(pending)
        return self.get_paginated_response(InvitationOut(page, many=True).data)

    @extend_schema(
        operation_id="organizations_invitations_create",
        request=InvitationCreateIn,
        responses={201: InvitationOut, **ERRORS},
        description="Emails the invitee a link; a pending invitation to the same "
        "place is replaced.",
    )
    def post(self, request: Request, organization_id: uuid.UUID) -> Response:
        data = InvitationCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        workspace = None
        if "workspace_id" in values:
            workspace = Workspace.objects.filter(
                organization=self.organization,
                pk=values["workspace_id"],
                deleted_at__isnull=True,
            ).first()
            if workspace is None:
                raise NotFound("No such workspace.")
        owner_invited = workspace is None and values["role"] == OWNER
        if owner_invited and self.organization_access.role != OWNER:
            raise InsufficientRole("Only owners can invite owners.")
        created = invitations.invitation_create(
            organization=self.organization,
            workspace=workspace,
            email=values["email"],
            role=values["role"],
            invited_by=self.user,
            site_url=request.build_absolute_uri("/"),
        )
        return Response(
            InvitationOut(created.invitation).data, status=status.HTTP_201_CREATED
        )


class OrganizationInvitationDetailView(OrganizationAPIView):
    access = {"DELETE": Rule(role=ADMIN)}

    @extend_schema(
        operation_id="organizations_invitations_revoke",
        responses={204: None, **ERRORS},
        description="The link stops working at once.",
    )
    def delete(
        self, request: Request, organization_id: uuid.UUID, invitation_id: uuid.UUID
    ) -> Response:
        invitation = invitations.invitation_get(
            organization=self.organization, invitation_id=invitation_id
        )
        if invitation is None:
            raise NotFound("No such invitation.")
        invitations.invitation_revoke(invitation=invitation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptView(APIView):
    """Accept an invitation as the signed-in user (API keys cannot)."""

    def authorize(self, request: Request) -> None:
        if self.principal.is_api_key:
            raise KeyNotAllowed()

    @extend_schema(
        operation_id="invitations_accept",
        request=InvitationAcceptIn,
        responses={200: InvitationAcceptedOut, **ERRORS},
        description="The token is the last part of the link in the invitation "
        "email. It must be addressed to one of the caller's verified addresses.",
    )
    def post(self, request: Request) -> Response:
        data = InvitationAcceptIn(data=request.data)
        data.is_valid(raise_exception=True)
        accepted = invitations.invitation_accept(
            user=self.user, token=data.validated_data["token"]
        )
        body = {
            "organization_id": accepted.organization_id,
            "workspace_id": accepted.workspace_id,
            "role": accepted.role,
        }
        return Response(InvitationAcceptedOut(body).data)
