"""Documents, bulk ingestion and search over HTTP."""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from billing.services import usage_record
from knowledge import bulk, services
from knowledge.api import serializers as s
from knowledge.ingestion.errors import IngestionError
from knowledge.models import Document, IngestJob
from knowledge.search import SearchFilters, SearchRequest, search
from tenancy.api.access import NotFound, Rule
from tenancy.api.base import WorkspaceAPIView
from tenancy.api.docs import ERRORS, error_response
from tenancy.api.errors import RequestTooLarge
from tenancy.errors import AtriumError
from tenancy.models import APIKey
from tenancy.observability import annotate

# What an upload can be refused with, beyond every endpoint's errors.
UPLOAD_ERRORS = {
    **ERRORS,
    413: error_response(
        "A file or the whole request is past its size limit",
        "file_too_large",
        "The file is larger than 26214400 bytes.",
    ),
    415: error_response(
        "Not a supported type, or the content does not match the extension",
        "type_mismatch",
        "The file's content is not what its .pdf extension says.",
    ),
    503: error_response(
        "File storage could not be reached; nothing was stored",
        "storage_unavailable",
        "The document store could not be reached; try again.",
    ),
}
CONFLICT = {
    409: error_response(
        "Conflicts with the workspace's documents",
        "duplicate_content",
        "The workspace already holds this content as document 7d1a….",
    )
}

READ = Rule(role="viewer", scope="documents:read")
WRITE = Rule(role="member", scope="documents:write")
SEARCH = Rule(role="viewer", scope="search")


class DocumentRefused(AtriumError):
    """An upload refused before anything was stored."""

    def __init__(self, error: IngestionError):
        super().__init__(error.message)
        self.code = error.code
        self.status = error.http_status


def _check_request_size(request: Request) -> None:
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > int(settings.ATRIUM_UPLOAD_REQUEST_MAX_BYTES):
        raise RequestTooLarge()


class UploadView(WorkspaceAPIView):
    """Records who uploads: the signed-in user, or the API key."""

    def uploader(self) -> dict[str, Any]:
        key_id = self.principal.api_key_id
        if key_id is not None:
            key = APIKey.objects.filter(pk=key_id).first()
            return {"created_by": None, "created_by_api_key": key}
        return {"created_by": self.user, "created_by_api_key": None}


def _uploads(request: Request) -> list[bulk.Upload]:
    files = [*request.FILES.getlist("file"), *request.FILES.getlist("files")]
    return [bulk.Upload(name=f.name or "", file=f) for f in files]


class DocumentListView(UploadView):
    access = {"GET": READ, "POST": WRITE}
    parser_classes = [MultiPartParser, JSONParser]

    def get_base_queryset(self) -> Any:
        return Document.objects.order_by("-created_at", "id")

    @extend_schema(
        operation_id="workspaces_documents_list",
        parameters=[OpenApiParameter("status", str, description="Only this status.")],
        responses={200: s.DocumentOut(many=True), **ERRORS},
    )
    def get(self, request: Request, workspace_id: uuid.UUID) -> Response:
        query = s.DocumentListQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        documents = self.get_queryset()
        if "status" in query.validated_data:
            documents = documents.filter(status=query.validated_data["status"])
        page = self.paginate_queryset(documents)
        return self.get_paginated_response(s.DocumentOut(page, many=True).data)

    @extend_schema(
        operation_id="workspaces_documents_create",
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "file": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                    }
                },
            },
            "application/json": s.DocumentTextIn,
        },
        responses={
            201: s.DocumentCreatedOut(many=True),
            200: s.DocumentCreatedOut(many=True),
            **UPLOAD_ERRORS,
        },
        description=(
            "Upload one or more files (multipart field `file`, repeated), or JSON "
            "with `title` and `text`. Identical content already in the workspace "
            "is not stored twice: it comes back with `created: false`. Ingestion "
            "runs in the background; poll the document for its stages."
        ),
    )
    def post(self, request: Request, workspace_id: uuid.UUID) -> Response:
        _check_request_size(request)
        uploads = _uploads(request)
        if uploads:
            results = [
                self._create(file=upload.file, filename=upload.name)
                for upload in uploads
            ]
        else:
            data = s.DocumentTextIn(data=request.data)
            data.is_valid(raise_exception=True)
            results = [
                self._create(
                    text=data.validated_data["text"],
                    title=data.validated_data["title"],
                    text_format=data.validated_data["format"],
                    metadata=data.validated_data.get("metadata"),
                )
            ]
        body = [
            {"document": s.DocumentOut(r.document).data, "created": r.created}
            for r in results
        ]
        created = any(r.created for r in results)
        return Response(body, status=201 if created else 200)

    def _create(self, **fields: Any) -> Any:
        try:
            return bulk.document_create_within_plan(
                workspace=self.workspace, **self.uploader(), **fields
            )
        except IngestionError as error:
            raise DocumentRefused(error) from None


class OneDocumentView(WorkspaceAPIView):
    def get_base_queryset(self) -> Any:
        return Document.objects.all()

    def _document(self, document_id: uuid.UUID) -> Document:
        document = self.get_queryset().filter(pk=document_id).first()
        if document is None:
            raise NotFound("No such document.")
        return document


class DocumentDetailView(OneDocumentView):
    access = {"GET": READ, "DELETE": WRITE}

    @extend_schema(
        operation_id="workspaces_documents_get",
        responses={200: s.DocumentDetailOut, **ERRORS},
    )
    def get(
        self, request: Request, workspace_id: uuid.UUID, document_id: uuid.UUID
    ) -> Response:
        return Response(s.DocumentDetailOut(self._document(document_id)).data)

    @extend_schema(
        operation_id="workspaces_documents_delete",
        responses={204: None, **ERRORS},
        description="Deletes the document, its chunks, stored file and graph facts.",
    )
    def delete(
        self, request: Request, workspace_id: uuid.UUID, document_id: uuid.UUID
    ) -> Response:
        services.document_delete(document=self._document(document_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentContentView(OneDocumentView):
    access = {"PUT": WRITE}
    parser_classes = [MultiPartParser, JSONParser]

    @extend_schema(
        operation_id="workspaces_documents_content_replace",
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            },
            "application/json": s.DocumentContentIn,
        },
        responses={
            202: s.DocumentReplacedOut,
            200: s.DocumentReplacedOut,
            **UPLOAD_ERRORS,
            **CONFLICT,
        },
        description=(
            "Replaces the document's content with a new file (multipart field "
            "`file`) or text (JSON `text` and `format`), keeping its id, title "
            "and metadata, and ingests it again (202). Until the new version's "
            "chunks are made, search keeps finding the old ones; then they swap "
            "in one transaction. The same content as now changes nothing (200, "
            "`replaced: false`); content another document of the workspace "
            "holds is refused (409 `duplicate_content`)."
        ),
    )
    def put(
        self, request: Request, workspace_id: uuid.UUID, document_id: uuid.UUID
    ) -> Response:
        _check_request_size(request)
        document = self._document(document_id)
        files = request.FILES.getlist("file")
        if len(files) > 1:
            raise ValidationError({"file": ["Send one file: it replaces the content."]})
        try:
            if files:
                result = services.document_reingest(
                    document=document, file=files[0], filename=files[0].name or ""
                )
            else:
                data = s.DocumentContentIn(data=request.data)
                data.is_valid(raise_exception=True)
                result = services.document_reingest(
                    document=document,
                    text=data.validated_data["text"],
                    text_format=data.validated_data["format"],
                )
        except IngestionError as error:
            raise DocumentRefused(error) from None
        body = {
            "document": s.DocumentDetailOut(result.document).data,
            "replaced": result.created,
        }
        return Response(body, status=202 if result.created else 200)


class DocumentRetryView(OneDocumentView):
    access = {"POST": WRITE}

    @extend_schema(
        operation_id="workspaces_documents_retry",
        request=None,
        responses={
            202: s.DocumentDetailOut,
            **ERRORS,
            409: error_response(
                "The document has not failed",
                "not_retryable",
                "Only a failed document can be retried.",
            ),
        },
        description="Runs a failed document again from the stage that failed.",
    )
    def post(
        self, request: Request, workspace_id: uuid.UUID, document_id: uuid.UUID
    ) -> Response:
        try:
            document = services.document_retry(document=self._document(document_id))
        except IngestionError as error:
            raise DocumentRefused(error) from None
        return Response(s.DocumentDetailOut(document).data, status=202)


class IngestView(UploadView):
    access = {"POST": WRITE}
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="workspaces_ingest",
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "files": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                    }
                },
            }
        },
        responses={202: s.IngestJobOut, **UPLOAD_ERRORS},
        description=(
            "Bulk ingestion: many files (multipart field `files`, repeated) and/or "
            "zip archives of them. Returns a job; poll "
            "`GET /v1/workspaces/{id}/ingest/{job_id}` until its status is `done`."
        ),
    )
    def post(self, request: Request, workspace_id: uuid.UUID) -> Response:
        _check_request_size(request)
        uploads = _uploads(request)
        if not uploads:
            raise AtriumError("Send at least one file in the field 'files'.")
        job = bulk.ingest_job_create(
            workspace=self.workspace, uploads=uploads, **self.uploader()
        )
        return Response(s.ingest_job_body(job), status=202)


class IngestJobView(WorkspaceAPIView):
    access = {"GET": READ}

    def get_base_queryset(self) -> Any:
        return IngestJob.objects.all()

    @extend_schema(
        operation_id="workspaces_ingest_get", responses={200: s.IngestJobOut, **ERRORS}
    )
    def get(
        self, request: Request, workspace_id: uuid.UUID, job_id: uuid.UUID
    ) -> Response:
        job = self.get_queryset().filter(pk=job_id).first()
        if job is None:
            raise NotFound("No such ingest job.")
        return Response(s.ingest_job_body(job))


class SearchView(WorkspaceAPIView):
    access = {"POST": SEARCH}

    @extend_schema(
        operation_id="workspaces_search",
        request=s.SearchIn,
        responses={200: s.SearchOut, **ERRORS},
        description=(
            "Search the workspace's knowledge: `vector` (semantic), `text` "
            "(full-text, web-search syntax), `hybrid` (Reciprocal Rank Fusion of "
            "vector, text and graph hits; `fusion: weighted` blends vector and text "
            "scores instead) or `graph` (facts, optionally as they stood `as_of` a "
            "time)."
        ),
    )
    def post(self, request: Request, workspace_id: uuid.UUID) -> Response:
        data = s.SearchIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        filters = values.get("filters", {})
        started = time.perf_counter()
        result = search(
            self.workspace,
            SearchRequest(
                query=values["query"],
                search_type=values["search_type"],
                limit=values["limit"],
                filters=SearchFilters(
                    document_ids=tuple(filters.get("document_ids", ())),
                    metadata=filters.get("metadata", {}),
                ),
                fusion=values["fusion"],
                weights=dict(
                    values.get("weights") or {"vector": 1.0, "text": 1.0, "graph": 1.0}
                ),
                text_weight=values["text_weight"],
                as_of=values.get("as_of"),
            ),
        )
        took_ms = (time.perf_counter() - started) * 1000
        annotate(tokens=result.embedding_tokens, tools=[f"{result.search_type}_search"])
        usage_record(
            workspace=self.workspace,
            event_type="search",
            input_tokens=result.embedding_tokens,
            model_name=result.embedding_model,
            user_id=self.principal.user_id,
            api_key_id=self.principal.api_key_id,
            is_test=self.principal.is_test_key,
            latency_ms=round(took_ms),
        )
        body = {
            "search_type": result.search_type,
            "hits": [vars(hit) for hit in result.hits],
            "degraded": list(result.degraded),
            "took_ms": round(took_ms, 1),
        }
        return Response(body)
