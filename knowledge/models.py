"""Workspace knowledge: documents and the chunks they are cut into."""

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from pgvector.django import VectorField

from tenancy.models import APIKey, Workspace


class DocumentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PARSING = "parsing", "Parsing"
    CHUNKING = "chunking", "Chunking"
    EMBEDDING = "embedding", "Embedding"
    GRAPH = "graph", "Building graph"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Document(models.Model):
    """An uploaded source, its extracted text, and where ingestion stands."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="documents"
    )
    title = models.CharField(max_length=500)
    source = models.CharField(
        max_length=1000, blank=True, help_text="Original file name or URL."
    )
    content_type = models.CharField(max_length=100, blank=True)
    # Stored under a generated name; the client's file name is only metadata.
    file = models.FileField(upload_to="documents/%Y/%m/", blank=True, max_length=300)
    size_bytes = models.BigIntegerField(default=0)
    content_hash = models.CharField(max_length=64, blank=True)
    content = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    status = models.CharField(
        max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    stages = models.JSONField(
        default=dict, blank=True, help_text="Per stage: state, timings, error."
    )
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by_api_key = models.ForeignKey(
        APIKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ingested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "documents"
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="documents_ws_idx"),
            models.Index(fields=["workspace", "status"], name="documents_status_idx"),
            models.Index(fields=["status", "updated_at"], name="documents_sweep_idx"),
        ]
        constraints = [
            # Identical content is stored once per workspace.
            models.UniqueConstraint(
                fields=["workspace", "content_hash"],
                condition=~Q(content_hash=""),
                name="documents_ws_hash_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    """A passage of a document with its embedding and full-text vector."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="chunks"
    )
    document = models.ForeignKey(
        Document, on_delete=models.CASCADE, related_name="chunks"
    )
    chunk_index = models.PositiveIntegerField()
    content = models.TextField()
    token_count = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    # Untyped so the dimension stays a deployment setting; searches cast to
    # the configured dimension (ATRIUM_EMBEDDING_DIMENSIONS).
    embedding = VectorField(null=True, blank=True)
    embedding_model = models.CharField(max_length=100, blank=True)
    search_vector = models.GeneratedField(
        expression=models.Func(
            models.F("content"),
            function="to_tsvector",
            template="to_tsvector('english'::regconfig, %(expressions)s)",
        ),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "chunks"
        ordering = ["document_id", "chunk_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "chunk_index"], name="chunks_doc_index_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["workspace"], name="chunks_ws_idx"),
            GinIndex(fields=["search_vector"], name="chunks_search_vector_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.chunk_index}"


class IngestJob(models.Model):
    """A bulk ingestion request: many files or an archive, polled as one job.

    Each accepted file becomes a document that goes through the usual
    pipeline; the job keeps what happened to each file it was given.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="ingest_jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by_api_key = models.ForeignKey(
        APIKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Per file: {"name", "document_id", "created"} or {"name", "code", "message"}.
    files = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ingest_jobs"
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="ingest_jobs_ws_idx")
        ]

    def __str__(self) -> str:
        return f"ingest job {self.id}"

    @property
    def document_ids(self) -> list[str]:
        return [f["document_id"] for f in self.files if f.get("document_id")]
