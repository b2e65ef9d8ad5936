"""Dashboard pages of workspace documents (templates in templates/knowledge/).

The pages call the services and selectors the API calls: whether a file is
accepted (size, type, plan limit, duplicate content), how a retry restarts
and what a deletion removes are decided there, never here. Uploads answer
per file, so one refused file never hides what became of the others.
"""

from __future__ import annotations

import io
import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import IO, Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme

from knowledge import bulk, selectors, services
from knowledge.forms import (
    ACCEPT,
    STATUS_CHOICES,
    DocumentFilesForm,
    DocumentFilterForm,
    DocumentReplaceForm,
    DocumentTextForm,
)
from knowledge.graph import GraphFact, document_facts
from knowledge.graph.backend import backend as graph_backend
from knowledge.ingestion.errors import IngestionError
from knowledge.ingestion.formats import MARKDOWN
from knowledge.ingestion.pipeline import ACTIVE_STATUSES, STAGES
from knowledge.models import Document, DocumentStatus
from tenancy.dashboard import READ, WRITE, Page, workspace_page
from tenancy.errors import PlanLimitExceeded

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
CHUNK_PAGE_SIZE = 20
FACT_LIMIT = 100
# How often a page with documents in progress asks for their state.
POLL_SECONDS = 2
ACTIVE = tuple(str(status) for status in ACTIVE_STATUSES)
STAGE_LABELS = {
    "parsing": "Parsing",
    "chunking": "Chunking",
    "embedding": "Embedding",
    "graph": "Knowledge graph",
}
# Between an archive's name and the name of a file inside it.
IN_ARCHIVE = " \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} "
# Upload outcomes of a form post without JavaScript, shown after the redirect.
OUTCOMES_SESSION_KEY = "atrium_document_uploads"
# Short labels for the stable codes a refused upload carries; the message
# beside each says the rest. Codes not listed show as "Refused".
REASONS = {
    "file_too_large": "Too large",
    "request_too_large": "Too large",
    "unsupported_type": "Unsupported type",
    "type_mismatch": "Type mismatch",
    "macro_document": "Macros not allowed",
    "empty_file": "Empty file",
    "encrypted_file": "Encrypted",
    "corrupt_file": "Corrupt file",
    "archive_bomb": "Unsafe archive",
    "bad_encoding": "Bad encoding",
    "plan_limit_exceeded": "Plan limit reached",
    "duplicate_content": "Duplicate",
}


@dataclass(frozen=True)
class FileOutcome:
    """What became of one uploaded file: created, duplicate or refused."""

    name: str
    outcome: str
    code: str = ""
    message: str = ""
    document_id: str = ""
    document_title: str = ""
    url: str = ""
    help_url: str = ""

    @property
    def reason(self) -> str:
        return REASONS.get(self.code, "Refused") if self.code else ""

    def as_dict(self) -> dict[str, str]:
        return {**asdict(self), "reason": self.reason}


def _document_url(page: Page, document_id: uuid.UUID | str) -> str:
    return reverse("app:document", args=[page.ws.pk, document_id])


def _create(page: Page, request: HttpRequest, name: str, **fields: Any) -> FileOutcome:
    try:
        # One file at a time: the plan check counts the documents this request
        # has already created (they are in its transaction), so each adds one.
        result = bulk.document_create_within_plan(
            workspace=page.ws, created_by=request.user, **fields
        )
    except IngestionError as error:
        return FileOutcome(name, "refused", code=error.code, message=error.message)
    except PlanLimitExceeded as error:
        return FileOutcome(
            name,
            "refused",
            code=error.code,
            message=error.message,
            help_url=reverse("app:billing", args=[page.organization.pk]),
        )
    document = result.document
    if result.created:
        message = "Queued for ingestion."
    else:
        message = "Already in this workspace: nothing was added."
    return FileOutcome(
        name,
        "created" if result.created else "duplicate",
        code="" if result.created else "duplicate_content",
        message=message,
        document_id=str(document.pk),
        document_title=document.title,
        url=_document_url(page, document.pk),
    )


def _take_file(
    page: Page, request: HttpRequest, name: str, file: IO[bytes]
) -> list[FileOutcome]:
    """One uploaded file, or each file of a zip archive (checked as a whole)."""
    if not name.lower().endswith(bulk.ARCHIVE_EXTENSIONS):
        return [_create(page, request, name, file=file, filename=name)]
    outcomes = []
    try:
        for entry, data in bulk.archive_entries(bulk.Upload(name=name, file=file)):
            outcomes.append(
                _create(
                    page,
                    request,
                    f"{name}{IN_ARCHIVE}{entry}",
                    file=io.BytesIO(data),
                    filename=entry,
                )
            )
    except IngestionError as error:
        outcomes.append(
            FileOutcome(name, "refused", code=error.code, message=error.message)
        )
    return outcomes


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _request_too_large(request: HttpRequest) -> bool:
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    return length > int(settings.ATRIUM_UPLOAD_REQUEST_MAX_BYTES)


def _too_large(name: str) -> FileOutcome:
    limit = settings.ATRIUM_UPLOAD_REQUEST_MAX_BYTES
    return FileOutcome(
        name,
        "refused",
        code="request_too_large",
        message=f"The upload is larger than {limit} bytes in total.",
    )


def _outcomes_response(
    request: HttpRequest, page: Page, outcomes: list[FileOutcome]
) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"files": [o.as_dict() for o in outcomes]})
    request.session[OUTCOMES_SESSION_KEY] = [asdict(o) for o in outcomes]
    return redirect("app:documents", page.ws.pk)


@workspace_page({"POST": WRITE})
def document_upload(request: HttpRequest, page: Page) -> HttpResponse:
    """Files (field ``files``, several at once, zips unpacked) or pasted text."""
    if _request_too_large(request):
        refused = _too_large("Upload")
        if _wants_json(request):
            return JsonResponse({"files": [refused.as_dict()]}, status=413)
        return _outcomes_response(request, page, [refused])

    if "text" in request.POST:
        text_form = DocumentTextForm(request.POST)
        if not text_form.is_valid():
            if _wants_json(request):
                return JsonResponse({"errors": text_form.errors}, status=400)
            return _list_page(request, page, text_form=text_form, status=400)
        title = text_form.cleaned_data["title"]
        outcomes = [
            _create(
                page,
                request,
                title,
                text=text_form.cleaned_data["text"],
                title=title,
                text_format=text_form.cleaned_data["format"],
            )
        ]
        return _outcomes_response(request, page, outcomes)

    files_form = DocumentFilesForm(request.POST, request.FILES)
    if not files_form.is_valid():
        if _wants_json(request):
            return JsonResponse({"errors": files_form.errors}, status=400)
        return _list_page(request, page, files_form=files_form, status=400)
    outcomes = [
        outcome
        for upload in files_form.cleaned_data["files"]
        for outcome in _take_file(page, request, upload.name or "", upload)
    ]
    return _outcomes_response(request, page, outcomes)


@dataclass(frozen=True)
class Row:
    """A document as the list shows it: its stage, and why it failed."""

    document: Document
    stage: str
    failed_code: str
    failed_message: str

    @property
    def active(self) -> bool:
        return self.document.status in ACTIVE


def _failure(document: Document) -> tuple[str, str, str]:
    """The failed stage, code and message of a failed document."""
    for stage in STAGES:
        entry = document.stages.get(stage) or {}
        if entry.get("state") == "failed":
            return stage, str(entry.get("code", "")), str(entry.get("error", ""))
    code, _, message = document.error.partition(": ")
    return "", code, message or document.error


def _row(document: Document) -> Row:
    if document.status == DocumentStatus.FAILED:
        stage, code, message = _failure(document)
        return Row(document, STAGE_LABELS.get(stage, ""), code, message)
    return Row(document, document.get_status_display(), "", "")


def _filters(request: HttpRequest) -> dict[str, Any]:
    form = DocumentFilterForm(request.GET)
    if not form.is_valid():
        # A stale or hand-edited link shows every document rather than an error.
        return {"status": "", "q": "", "page": 1}
    data = form.cleaned_data
    return {"status": data["status"], "q": data["q"], "page": data["page"] or 1}


def _list_context(request: HttpRequest, page: Page) -> dict[str, Any]:
    filters = _filters(request)
    status = filters["status"]
    documents = selectors.document_list(
        workspace_id=page.ws.pk,
        status=status if status not in ("", "active") else None,
        statuses=ACTIVE if status == "active" else None,
        title_contains=filters["q"] or None,
    )
    paginator = Paginator(documents, PAGE_SIZE)
    page_obj = paginator.get_page(filters["page"])
    counts = selectors.document_status_counts(workspace_id=page.ws.pk)
    in_progress = sum(counts.get(s, 0) for s in ACTIVE)
    query = {k: v for k, v in (("status", status), ("q", filters["q"])) if v}
    list_url = reverse("app:documents", args=[page.ws.pk])
    return {
        "rows": [_row(d) for d in page_obj.object_list],
        "page_obj": page_obj,
        "filters": filters,
        "filtered": bool(query),
        "query": urlencode(query),
        "list_url": list_url,
        "poll_url": f"{list_url}?{urlencode({**query, 'page': page_obj.number})}",
        "counts": counts,
        "total": sum(counts.values()),
        "in_progress": in_progress,
        "poll_seconds": POLL_SECONDS if in_progress else None,
    }


def _stored_outcomes(request: HttpRequest) -> list[FileOutcome]:
    """The outcomes of the last form upload, shown once."""
    stored = request.session.pop(OUTCOMES_SESSION_KEY, None)
    if not isinstance(stored, list):
        return []
    names = set(FileOutcome.__dataclass_fields__)
    return [
        FileOutcome(**{k: str(v) for k, v in item.items() if k in names})
        for item in stored
        if isinstance(item, dict) and {"name", "outcome"} <= item.keys()
    ]


def _htmx_target(request: HttpRequest) -> str | None:
    htmx = getattr(request, "htmx", None)
    return htmx.target if htmx else None


def _list_page(
    request: HttpRequest,
    page: Page,
    *,
    files_form: DocumentFilesForm | None = None,
    text_form: DocumentTextForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = _list_context(request, page)
    if _htmx_target(request) == "documents-list":
        response = render(request, "knowledge/_document_list.html", context)
    else:
        outcomes = _stored_outcomes(request)
        context.update(
            nav="documents",
            files_form=files_form or DocumentFilesForm(),
            text_form=text_form or DocumentTextForm(),
            outcomes=outcomes,
            accept=ACCEPT,
            upload_max_bytes=settings.ATRIUM_UPLOAD_MAX_BYTES,
            text_open=text_form is not None,
            status_choices=STATUS_CHOICES,
        )
        response = render(request, "knowledge/documents.html", context, status=status)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


@workspace_page({"GET": READ})
def documents(request: HttpRequest, page: Page) -> HttpResponse:
    """The workspace's documents: upload, filter, live ingestion stages."""
    return _list_page(request, page)


def _document(page: Page, document_id: uuid.UUID) -> Document:
    try:
        return selectors.document_get(workspace_id=page.ws.pk, document_id=document_id)
    except Document.DoesNotExist:
        raise Http404("No such document.") from None


@dataclass(frozen=True)
class StageView:
    name: str
    label: str
    state: str
    started: datetime | None
    finished: datetime | None
    seconds: float | None
    detail: str
    code: str
    error: str


def _when(value: Any) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) else None


def _stage_detail(stage: str, entry: dict[str, Any], document: Document) -> str:
    if stage == "parsing" and "characters" in entry:
        return f"{entry['characters']:,} characters"
    if stage == "chunking" and "chunks" in entry:
        return f"{entry['chunks']:,} chunks"
    if stage == "embedding" and "embedded" in entry:
        parts = [f"{entry['embedded']:,} of {document.chunk_count:,} chunks"]
        if entry.get("tokens"):
            parts.append(f"{entry['tokens']:,} tokens")
        if entry.get("model"):
            parts.append(str(entry["model"]))
        return " · ".join(parts)
    if stage == "graph":
        if entry.get("state") == "skipped":
            return f"Skipped: {entry.get('reason', 'no graph')}."
        if "facts" in entry:
            return (
                f"{entry['facts']:,} facts, {entry.get('entities', 0):,} entities "
                f"from {entry.get('episodes', 0):,} passages"
            )
    return ""


def _stages(document: Document) -> list[StageView]:
    views = []
    for stage in STAGES:
        entry = dict(document.stages.get(stage) or {})
        started, finished = _when(entry.get("started")), _when(entry.get("finished"))
        seconds = (finished - started).total_seconds() if started and finished else None
        views.append(
            StageView(
                name=stage,
                label=STAGE_LABELS[stage],
                state=str(entry.get("state", "pending")),
                started=started,
                finished=finished,
                seconds=seconds,
                detail=_stage_detail(stage, entry, document),
                code=str(entry.get("code") or ""),
                error=str(entry.get("error") or ""),
            )
        )
    return views


def _fact_rows(page: Page, document: Document, facts: list[GraphFact]) -> list[Any]:
    """Each fact with a link to the chunk it was read in."""
    numbers = dict(
        selectors.document_chunk_list(workspace_id=page.ws.pk, document_id=document.pk)
        .filter(id__in={f.chunk_id for f in facts if f.chunk_id})
        .values_list("id", "chunk_index")
    )
    detail = _document_url(page, document.pk)
    rows = []
    for fact in facts:
        index = numbers.get(fact.chunk_id) if fact.chunk_id else None
        link = ""
        if index is not None:
            link = f"{detail}?chunks={index // CHUNK_PAGE_SIZE + 1}#chunk-{index + 1}"
        rows.append(
            {
                "fact": fact,
                "chunk_number": None if index is None else index + 1,
                "chunk_link": link,
            }
        )
    return rows


def _graph(page: Page, document: Document) -> dict[str, Any]:
    """The document's graph facts, or why there are none to show."""
    if graph_backend() == "off":
        return {"graph_state": "off", "facts": []}
    entry = document.stages.get("graph") or {}
    if entry.get("state") != "done":
        return {"graph_state": entry.get("state", "pending"), "facts": []}
    try:
        facts = document_facts(page.ws, document.pk, FACT_LIMIT)
    # The graph server is another service: when it is down the rest of the
    # page (metadata, stages, chunks) must still render.
    except Exception:
        logger.exception(
            "graph facts of document %s in workspace %s unavailable",
            document.pk,
            page.ws.pk,
        )
        return {"graph_state": "unreachable", "facts": []}
    return {
        "graph_state": "done",
        "facts": _fact_rows(page, document, facts),
        "fact_limit": FACT_LIMIT,
    }


def _live_context(document: Document) -> dict[str, Any]:
    row = _row(document)
    return {
        "document": document,
        "row": row,
        "stages": _stages(document),
        "poll_seconds": POLL_SECONDS if row.active else None,
    }


def _detail_page(
    request: HttpRequest,
    page: Page,
    document: Document,
    *,
    replace_form: DocumentReplaceForm | None = None,
    refusal: FileOutcome | None = None,
    status: int = 200,
) -> HttpResponse:
    chunks = Paginator(
        selectors.document_chunk_list(workspace_id=page.ws.pk, document_id=document.pk),
        CHUNK_PAGE_SIZE,
    ).get_page(request.GET.get("chunks"))
    fmt = (document.metadata or {}).get("format")
    context = {
        "nav": "documents",
        **_live_context(document),
        "chunks": chunks,
        "metadata": sorted(
            (key, value)
            for key, value in (document.metadata or {}).items()
            if key not in ("format", "title_source")
            and isinstance(value, str | int | float)
        ),
        **_graph(page, document),
        "replace_form": replace_form
        or DocumentReplaceForm(initial={"format": fmt} if fmt == MARKDOWN else None),
        "replace_open": replace_form is not None or refusal is not None,
        "refusal": refusal,
    }
    response = render(request, "knowledge/document_detail.html", context, status=status)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


@workspace_page({"GET": READ})
def document_detail(
    request: HttpRequest, page: Page, document_id: uuid.UUID
) -> HttpResponse:
    """One document: metadata, stages with timings, chunks and graph facts."""
    document = _document(page, document_id)
    if _htmx_target(request) == "document-live":
        if document.status not in ACTIVE:
            # Ingestion finished: reload once so chunks and facts appear.
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"
            return response
        return render(request, "knowledge/_document_live.html", _live_context(document))
    return _detail_page(request, page, document)


@workspace_page({"POST": WRITE})
def document_replace(
    request: HttpRequest, page: Page, document_id: uuid.UUID
) -> HttpResponse:
    """Replace a document's content with a new file or pasted text.

    A refusal answers the document's page again with the reason, its code
    and the form as sent (pasted text is not lost); the document keeps its
    content and chunks.
    """
    document = _document(page, document_id)
    if _request_too_large(request):
        refusal = _too_large(document.title)
        return _detail_page(request, page, document, refusal=refusal, status=413)

    form = DocumentReplaceForm(request.POST, request.FILES)
    if not form.is_valid():
        return _detail_page(request, page, document, replace_form=form, status=400)
    data = form.cleaned_data
    try:
        if data["file"]:
            result = services.document_reingest(
                document=document, file=data["file"], filename=data["file"].name or ""
            )
        else:
            result = services.document_reingest(
                document=document, text=data["text"], text_format=data["format"]
            )
    except IngestionError as error:
        return _detail_page(
            request,
            page,
            document,
            replace_form=form,
            refusal=FileOutcome(
                document.title, "refused", code=error.code, message=error.message
            ),
            status=error.http_status,
        )

    if result.created:
        messages.success(
            request,
            f"Replacing “{document.title}”: the new version is being ingested.",
        )
    else:
        messages.info(
            request, f"Nothing changed: “{document.title}” already has this content."
        )
    return redirect("app:document", page.ws.pk, document.pk)


def _back(request: HttpRequest, page: Page) -> HttpResponse:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("app:documents", page.ws.pk)


@workspace_page({"POST": WRITE})
def document_retry(
    request: HttpRequest, page: Page, document_id: uuid.UUID
) -> HttpResponse:
    """Run a failed document again from the stage that failed."""
    document = _document(page, document_id)
    try:
        services.document_retry(document=document)
    except IngestionError as error:
        messages.error(request, f"{document.title}: {error.message}")
    else:
        messages.success(request, f"Retrying “{document.title}”.")
    return _back(request, page)


@workspace_page({"GET": WRITE, "POST": WRITE})
def document_delete(
    request: HttpRequest, page: Page, document_id: uuid.UUID
) -> HttpResponse:
    """Ask, then delete the document, its chunks, file and graph facts.

    A post without ``confirm=yes`` (a form sent without JavaScript) shows the
    question first, so no single click deletes anything.
    """
    document = _document(page, document_id)
    if request.method != "POST" or request.POST.get("confirm") != "yes":
        return render(
            request,
            "knowledge/document_delete.html",
            {"nav": "documents", "document": document},
        )
    title = document.title
    services.document_delete(document=document)
    messages.success(request, f"Deleted “{title}”.")
    return redirect("app:documents", page.ws.pk)
