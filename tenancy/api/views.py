"""Organizations, workspaces, members and API keys over HTTP.

Views parse input, call one service or selector, and render; who may call
each method is the ``access`` map (see ``tenancy.api.access``).
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from tenancy import erasure, selectors, services
from tenancy.api import serializers as s
from tenancy.api.access import (
    ANY_KEY,
    InsufficientRole,
    KeyNotAllowed,
    NotFound,
    Rule,
)
from tenancy.api.base import APIView, OrganizationAPIView, WorkspaceAPIView
from tenancy.api.docs import ERRORS
from tenancy.api.exports import ErasureReceiptOut
from tenancy.models import (
    APIKey,
    OrganizationMember,
    WorkspaceMember,
)

VIEWER, MEMBER, ADMIN, OWNER = "viewer", "member", "admin", "owner"


def _user_named(data: dict[str, Any]) -> User:
    query = (
        User.objects.filter(pk=data["user_id"])
        if "user_id" in data
        else User.objects.filter(email__iexact=data["email"])
    )
    user = query.filter(is_active=True).first()
    if user is None:
        raise NotFound("No such user.")
    return user


# --- organizations -----------------------------------------------------------


class OrganizationListView(APIView):
    """The caller's organizations; create one (the caller becomes its owner)."""

    def authorize(self, request: Request) -> None:
        if self.principal.is_api_key:
            raise KeyNotAllowed()

    @extend_schema(
        operation_id="organizations_list",
        responses={200: s.OrganizationOut(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        organizations = selectors.organization_list_for_user(user=self.user)
        page = self.paginate_queryset(organizations)
        roles = selectors.organization_roles_for_user(user=self.user)
        data = s.OrganizationOut(page, many=True, context={"roles": roles}).data
        return self.get_paginated_response(data)

    @extend_schema(
        operation_id="organizations_create",
        request=s.OrganizationCreateIn,
        responses={201: s.OrganizationOut, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = s.OrganizationCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        organization = services.organization_create(
            actor=self.user, **data.validated_data
        )
        out = s.OrganizationOut(
            organization, context={"roles": {organization.pk: OWNER}}
        )
        return Response(out.data, status=status.HTTP_201_CREATED)


class OrganizationDetailView(OrganizationAPIView):
    access = {
        "GET": Rule(role=VIEWER),
        "PATCH": Rule(role=ADMIN),
        "DELETE": Rule(role=OWNER),
    }

    def _out(self) -> dict[str, Any]:
        roles = {self.organization.pk: self.organization_access.role}
        return s.OrganizationOut(self.organization, context={"roles": roles}).data

    @extend_schema(
        operation_id="organizations_get",
        responses={200: s.OrganizationOut, **ERRORS},
    )
    def get(self, request: Request, organization_id: uuid.UUID) -> Response:
        return Response(self._out())

    @extend_schema(
        operation_id="organizations_update",
        request=s.OrganizationUpdateIn,
        responses={200: s.OrganizationOut, **ERRORS},
    )
    def patch(self, request: Request, organization_id: uuid.UUID) -> Response:
        data = s.OrganizationUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.organization_update(
            organization=self.organization, fields=dict(data.validated_data)
        )
        return Response(self._out())

    @extend_schema(
        operation_id="organizations_delete",
        responses={202: ErasureReceiptOut, **ERRORS},
        description=(
            "Delete the organization and all its workspaces: keys stop at once, "
            "and every row, file, graph and cached key is purged right after. "
            "The response is the erasure receipt; fetch it again at "
            "`/v1/erasure-receipts/{id}` for what was removed."
        ),
    )
    def delete(self, request: Request, organization_id: uuid.UUID) -> Response:
        receipt = erasure.organization_erasure_request(
            organization=self.organization, actor=self.user
        )
        return Response(
            ErasureReceiptOut(receipt).data, status=status.HTTP_202_ACCEPTED
        )


class OrganizationWorkspacesView(OrganizationAPIView):
    access = {"GET": Rule(role=VIEWER), "POST": Rule(role=ADMIN)}

    @extend_schema(
        operation_id="organizations_workspaces_list",
        responses={200: s.WorkspaceOut(many=True), **ERRORS},
    )
    def get(self, request: Request, organization_id: uuid.UUID) -> Response:
        workspaces = selectors.workspace_list_for_user(user=self.user).filter(
            organization=self.organization
        )
        page = self.paginate_queryset(workspaces)
        return self.get_paginated_response(s.WorkspaceOut(page, many=True).data)

    @extend_schema(
        operation_id="organizations_workspaces_create",
        request=s.WorkspaceCreateIn,
        responses={201: s.WorkspaceOut, **ERRORS},
    )
    def post(self, request: Request, organization_id: uuid.UUID) -> Response:
        data = s.WorkspaceCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = services.workspace_create(
            organization=self.organization, **data.validated_data
        )
        return Response(s.WorkspaceOut(workspace).data, status=status.HTTP_201_CREATED)


class OrganizationMembersView(OrganizationAPIView):
    access = {"GET": Rule(role=VIEWER), "POST": Rule(role=ADMIN)}

    @extend_schema(
        operation_id="organizations_members_list",
        responses={200: s.OrganizationMemberOut(many=True), **ERRORS},
    )
    def get(self, request: Request, organization_id: uuid.UUID) -> Response:
        members = (
            OrganizationMember.objects.filter(organization=self.organization)
            .select_related("user")
            .order_by("created_at")
        )
        page = self.paginate_queryset(members)
        return self.get_paginated_response(
            s.OrganizationMemberOut(page, many=True).data
        )

    @extend_schema(
        operation_id="organizations_members_add",
        request=s.OrganizationMemberAddIn,
        responses={201: s.OrganizationMemberOut, **ERRORS},
    )
    def post(self, request: Request, organization_id: uuid.UUID) -> Response:
        data = s.OrganizationMemberAddIn(data=request.data)
        data.is_valid(raise_exception=True)
        role = data.validated_data["role"]
        if role == OWNER and self.organization_access.role != OWNER:
            raise InsufficientRole("Only owners can add owners.")
        member = services.organization_member_add(
            organization=self.organization,
            user=_user_named(data.validated_data),
            role=role,
        )
        return Response(
            s.OrganizationMemberOut(member).data, status=status.HTTP_201_CREATED
        )


class OrganizationMemberDetailView(OrganizationAPIView):
    access = {"PATCH": Rule(role=ADMIN), "DELETE": Rule(role=ADMIN)}

    def _member(self, user_id: uuid.UUID) -> OrganizationMember:
        member = (
            OrganizationMember.objects.filter(
                organization=self.organization, user_id=user_id
            )
            .select_related("user", "organization")
            .first()
        )
        if member is None:
            raise NotFound("No such member.")
        return member

    def _require_owner_for(self, *roles: str) -> None:
        if OWNER in roles and self.organization_access.role != OWNER:
            raise InsufficientRole("Only owners can grant or remove the owner role.")

    @extend_schema(
        operation_id="organizations_members_update",
        request=s.OrganizationRoleIn,
        responses={200: s.OrganizationMemberOut, **ERRORS},
    )
    def patch(
        self, request: Request, organization_id: uuid.UUID, user_id: uuid.UUID
    ) -> Response:
        data = s.OrganizationRoleIn(data=request.data)
        data.is_valid(raise_exception=True)
        member = self._member(user_id)
        self._require_owner_for(member.role, data.validated_data["role"])
        member = services.organization_member_change_role(
            member=member, role=data.validated_data["role"]
        )
        return Response(s.OrganizationMemberOut(member).data)

    @extend_schema(
        operation_id="organizations_members_remove", responses={204: None, **ERRORS}
    )
    def delete(
        self, request: Request, organization_id: uuid.UUID, user_id: uuid.UUID
    ) -> Response:
        member = self._member(user_id)
        self._require_owner_for(member.role)
        services.organization_member_remove(member=member)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- workspaces --------------------------------------------------------------


class WorkspaceDetailView(WorkspaceAPIView):
    access = {
        "GET": Rule(role=VIEWER, scope=ANY_KEY),
        "PATCH": Rule(role=ADMIN),
        "DELETE": Rule(role=ADMIN),
    }

    @extend_schema(
        operation_id="workspaces_get", responses={200: s.WorkspaceOut, **ERRORS}
    )
    def get(self, request: Request, workspace_id: uuid.UUID) -> Response:
        return Response(s.WorkspaceOut(self.workspace).data)

    @extend_schema(
        operation_id="workspaces_update",
        request=s.WorkspaceUpdateIn,
        responses={200: s.WorkspaceOut, **ERRORS},
    )
    def patch(self, request: Request, workspace_id: uuid.UUID) -> Response:
        data = s.WorkspaceUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = services.workspace_update(
            workspace=self.workspace, fields=dict(data.validated_data)
        )
        return Response(s.WorkspaceOut(workspace).data)

    @extend_schema(
        operation_id="workspaces_delete",
        responses={202: ErasureReceiptOut, **ERRORS},
        description=(
            "Delete the workspace: its keys stop at once, and every row, file, "
            "graph and cached key is purged right after. The response is the "
            "erasure receipt; fetch it again at `/v1/erasure-receipts/{id}` "
            "for what was removed."
        ),
    )
    def delete(self, request: Request, workspace_id: uuid.UUID) -> Response:
        receipt = erasure.workspace_erasure_request(
            workspace=self.workspace, actor=self.user
        )
        return Response(
            ErasureReceiptOut(receipt).data, status=status.HTTP_202_ACCEPTED
        )


class WorkspaceMembersView(WorkspaceAPIView):
    access = {"GET": Rule(role=VIEWER), "POST": Rule(role=ADMIN)}

    def get_base_queryset(self) -> Any:
        return WorkspaceMember.objects.select_related("user").order_by("created_at")

    @extend_schema(
        operation_id="workspaces_members_list",
        responses={200: s.WorkspaceMemberOut(many=True), **ERRORS},
    )
    def get(self, request: Request, workspace_id: uuid.UUID) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.WorkspaceMemberOut(page, many=True).data)

    @extend_schema(
        operation_id="workspaces_members_add",
        request=s.WorkspaceMemberAddIn,
        responses={201: s.WorkspaceMemberOut, **ERRORS},
    )
    def post(self, request: Request, workspace_id: uuid.UUID) -> Response:
        data = s.WorkspaceMemberAddIn(data=request.data)
        data.is_valid(raise_exception=True)
        member = services.workspace_member_add(
            workspace=self.workspace,
            user=_user_named(data.validated_data),
            role=data.validated_data["role"],
        )
        return Response(
            s.WorkspaceMemberOut(member).data, status=status.HTTP_201_CREATED
        )


class WorkspaceMemberDetailView(WorkspaceAPIView):
    access = {"PATCH": Rule(role=ADMIN), "DELETE": Rule(role=ADMIN)}

    def get_base_queryset(self) -> Any:
        return WorkspaceMember.objects.select_related("user", "workspace")

    def _member(self, user_id: uuid.UUID) -> WorkspaceMember:
        member = self.get_queryset().filter(user_id=user_id).first()
        if member is None:
            raise NotFound("No such member.")
        return member

    @extend_schema(
        operation_id="workspaces_members_update",
        request=s.WorkspaceRoleIn,
        responses={200: s.WorkspaceMemberOut, **ERRORS},
    )
    def patch(
        self, request: Request, workspace_id: uuid.UUID, user_id: uuid.UUID
    ) -> Response:
        data = s.WorkspaceRoleIn(data=request.data)
        data.is_valid(raise_exception=True)
        member = services.workspace_member_change_role(
            member=self._member(user_id), role=data.validated_data["role"]
        )
        return Response(s.WorkspaceMemberOut(member).data)

    @extend_schema(
        operation_id="workspaces_members_remove", responses={204: None, **ERRORS}
    )
    def delete(
        self, request: Request, workspace_id: uuid.UUID, user_id: uuid.UUID
    ) -> Response:
        services.workspace_member_remove(member=self._member(user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- API keys ----------------------------------------------------------------


class WorkspaceKeysView(WorkspaceAPIView):
    access = {"GET": Rule(role=ADMIN), "POST": Rule(role=ADMIN)}
    # Creating keys is sensitive: refuse rather than guess when Redis is down.
    rate_limit_fail_closed = True

    def get_base_queryset(self) -> Any:
        return APIKey.objects.order_by("-created_at")

    @extend_schema(
        operation_id="workspaces_api_keys_list",
        responses={200: s.APIKeyOut(many=True), **ERRORS},
    )
    def get(self, request: Request, workspace_id: uuid.UUID) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.APIKeyOut(page, many=True).data)

    @extend_schema(
        operation_id="workspaces_api_keys_create",
        request=s.APIKeyCreateIn,
        responses={201: s.APIKeyCreatedOut, **ERRORS},
        description="The response carries the full key. It is never shown again.",
    )
    def post(self, request: Request, workspace_id: uuid.UUID) -> Response:
        data = s.APIKeyCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        created = services.api_key_create(
            workspace=self.workspace, created_by=self.user, **data.validated_data
        )
        body = {**s.APIKeyOut(created.api_key).data, "key": created.raw_key}
        return Response(body, status=status.HTTP_201_CREATED)


class WorkspaceKeyDetailView(WorkspaceAPIView):
    access = {"GET": Rule(role=ADMIN), "DELETE": Rule(role=ADMIN)}

    def get_base_queryset(self) -> Any:
        return APIKey.objects.select_related("workspace")

    def _key(self, key_id: uuid.UUID) -> APIKey:
        key = self.get_queryset().filter(pk=key_id).first()
        if key is None:
            raise NotFound("No such API key.")
        return key

    @extend_schema(
        operation_id="workspaces_api_keys_get", responses={200: s.APIKeyOut, **ERRORS}
    )
    def get(
        self, request: Request, workspace_id: uuid.UUID, key_id: uuid.UUID
    ) -> Response:
        return Response(s.APIKeyOut(self._key(key_id)).data)

    @extend_schema(
        operation_id="workspaces_api_keys_revoke",
        responses={204: None, **ERRORS},
        description="Revocation is immediate and cannot be undone.",
    )
    def delete(
        self, request: Request, workspace_id: uuid.UUID, key_id: uuid.UUID
    ) -> Response:
        services.api_key_revoke(api_key=self._key(key_id), reason="revoked via API")
        return Response(status=status.HTTP_204_NO_CONTENT)
