"""Workspace exports and erasure receipts over HTTP (docs/data.md)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from tenancy import exports
from tenancy.api.access import KeyNotAllowed, NotFound, Rule
from tenancy.api.base import APIView, WorkspaceAPIView
from tenancy.api.docs import ERRORS
from tenancy.api.serializers import StrictSerializer
from tenancy.data_models import ErasureReceipt, ExportJob
from tenancy.selectors import organization_roles_for_user


class ExportJobOut(serializers.ModelSerializer):
    class Meta:
        model = ExportJob
        fields = [
            "id",
            "status",
            "include_embeddings",
            "size_bytes",
            "sha256",
            "counts",
            "error",
            "created_at",
            "finished_at",
            "expires_at",
        ]
        read_only_fields = fields


class ExportCreateIn(StrictSerializer):
    include_embeddings = serializers.BooleanField(required=False, default=False)


class _ExportView(WorkspaceAPIView):
    def get_base_queryset(self) -> Any:
        return ExportJob.objects.order_by("-created_at")

    def job(self, export_id: uuid.UUID) -> ExportJob:
        job = self.get_queryset().filter(pk=export_id).first()
        if job is None:
            raise NotFound("No such export.")
        return job


class ExportListView(_ExportView):
    # An export holds everything in the workspace: admins only, no keys.
    access = {"GET": Rule(role="admin"), "POST": Rule(role="admin")}

    @extend_schema(
        operation_id="workspaces_exports_list",
        responses={200: ExportJobOut(many=True), **ERRORS},
    )
    def get(self, request: Request, workspace_id: uuid.UUID) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ExportJobOut(page, many=True).data)

    @extend_schema(
        operation_id="workspaces_exports_create",
        request=ExportCreateIn,
        responses={202: ExportJobOut, **ERRORS},
        description=(
            "Ask for a zip of the workspace: documents with their original "
            "files, chunks (vectors with `include_embeddings`), agents, chat "
            "sessions with messages, evaluation sets, graph facts and a "
            "manifest of counts and checksums. Poll the job, then download it "
            "before `expires_at`."
        ),
    )
    def post(self, request: Request, workspace_id: uuid.UUID) -> Response:
        data = ExportCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        job = exports.export_request(
            workspace=self.workspace,
            actor_id=self.principal.user_id,
            include_embeddings=data.validated_data["include_embeddings"],
        )
        return Response(ExportJobOut(job).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailView(_ExportView):
    access = {"GET": Rule(role="admin")}

    @extend_schema(
        operation_id="workspaces_exports_get",
        responses={200: ExportJobOut, **ERRORS},
    )
    def get(
        self, request: Request, workspace_id: uuid.UUID, export_id: uuid.UUID
    ) -> Response:
        return Response(ExportJobOut(self.job(export_id)).data)


class ExportDownloadView(_ExportView):
    access = {"GET": Rule(role="admin")}

    @extend_schema(
        operation_id="workspaces_exports_download",
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The archive."
            ),
            409: OpenApiResponse(description="Not ready yet (`export_not_ready`)."),
            410: OpenApiResponse(description="Expired (`export_expired`)."),
            **ERRORS,
        },
    )
    def get(
        self, request: Request, workspace_id: uuid.UUID, export_id: uuid.UUID
    ) -> FileResponse:
        job = self.job(export_id)
        handle = exports.export_file_open(job=job)
        stamp = (job.finished_at or job.created_at).strftime("%Y%m%d-%H%M%S")
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=f"atrium-{self.workspace.slug}-{stamp}.zip",
            content_type="application/zip",
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response


# --- erasure receipts ----------------------------------------------------------


class ErasureReceiptOut(serializers.ModelSerializer):
    class Meta:
        model = ErasureReceipt
        fields = [
            "id",
            "subject_type",
            "subject_id",
            "organization_id",
            "requested_by_id",
            "status",
            "removed",
            "errors",
            "requested_at",
            "completed_at",
        ]
        read_only_fields = fields


class _ReceiptView(APIView):
    """Receipts belong to the person who asked and the organization's managers.

    They outlive what they describe, so they sit under no workspace or
    organization URL.
    """

    def authorize(self, request: Request) -> None:
        if self.principal.is_api_key:
            raise KeyNotAllowed()

    def get_queryset(self) -> Any:
        user = self.user
        managed = [
            organization
            for organization, role in organization_roles_for_user(user=user).items()
            if role in ("owner", "admin")
        ]
        mine = ErasureReceipt.objects.filter(requested_by_id=user.pk)
        theirs = ErasureReceipt.objects.filter(organization_id__in=managed)
        return (mine | theirs).order_by("-requested_at")


class ErasureReceiptListView(_ReceiptView):
    @extend_schema(
        operation_id="erasure_receipts_list",
        responses={200: ErasureReceiptOut(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ErasureReceiptOut(page, many=True).data)


class ErasureReceiptDetailView(_ReceiptView):
    @extend_schema(
        operation_id="erasure_receipts_get",
        responses={200: ErasureReceiptOut, **ERRORS},
    )
    def get(self, request: Request, receipt_id: uuid.UUID) -> Response:
        receipt = self.get_queryset().filter(pk=receipt_id).first()
        if receipt is None:
            raise NotFound("No such erasure receipt.")
        return Response(ErasureReceiptOut(receipt).data)
