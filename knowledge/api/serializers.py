from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from rest_framework import serializers

from knowledge.models import Document, DocumentStatus, IngestJob
from knowledge.search import SEARCH_TYPES
from tenancy.api.serializers import StrictSerializer


class DocumentOut(serializers.ModelSerializer):
    class Meta:
        model = Document
        fields = [
            "id",
            "title",
            "source",
            "content_type",
            "size_bytes",
            "content_hash",
            "metadata",
            "status",
            "progress",
            "error",
            "chunk_count",
            "created_at",
            "updated_at",
            "ingested_at",
        ]
        read_only_fields = fields


class DocumentDetailOut(DocumentOut):
    class Meta(DocumentOut.Meta):
        fields = [*DocumentOut.Meta.fields, "stages", "attempts"]
        read_only_fields = fields


class DocumentCreatedOut(serializers.Serializer):
    document = DocumentOut()
    created = serializers.BooleanField(
        help_text="False when identical content was already in the workspace."
    )


class DocumentTextIn(StrictSerializer):
    title = serializers.CharField(max_length=500)
    text = serializers.CharField(trim_whitespace=False)
    format = serializers.ChoiceField(choices=["text", "markdown"], default="text")
    metadata = serializers.DictField(required=False)


class DocumentContentIn(StrictSerializer):
    text = serializers.CharField(trim_whitespace=False)
    format = serializers.ChoiceField(choices=["text", "markdown"], default="text")


class DocumentReplacedOut(serializers.Serializer):
    document = DocumentDetailOut()
    replaced = serializers.BooleanField(
        help_text="False when the content sent is the document's own already."
    )


class DocumentListQuery(StrictSerializer):
    status = serializers.ChoiceField(choices=DocumentStatus.choices, required=False)
    limit = serializers.IntegerField(required=False)
    offset = serializers.IntegerField(required=False)


class IngestFileOut(serializers.Serializer):
    name = serializers.CharField()
    document_id = serializers.UUIDField(required=False)
    created = serializers.BooleanField(required=False)
    status = serializers.CharField(required=False)
    code = serializers.CharField(required=False)
    message = serializers.CharField(required=False)


class IngestJobOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["running", "done"])
    counts = serializers.DictField(child=serializers.IntegerField())
    files = IngestFileOut(many=True)
    created_at = serializers.DateTimeField()


def ingest_job_body(job: IngestJob) -> dict[str, Any]:
    """The job with each document's current status, for polling."""
    statuses = dict(
        Document.objects.filter(
            workspace=job.workspace_id, pk__in=job.document_ids
        ).values_list("pk", "status")
    )
    files = []
    counts = {"accepted": 0, "rejected": 0, "ready": 0, "failed": 0, "pending": 0}
    for entry in job.files:
        entry = dict(entry)
        if "document_id" in entry:
            counts["accepted"] += 1
            status = statuses.get(uuid.UUID(entry["document_id"]), "deleted")
            entry["status"] = status
            bucket = status if status in ("ready", "failed") else "pending"
            counts[bucket] += status != "deleted"
        else:
            counts["rejected"] += 1
        files.append(entry)
    return {
        "id": job.pk,
        "status": "running" if counts["pending"] else "done",
        "counts": counts,
        "files": files,
        "created_at": job.created_at,
    }


class SearchFiltersIn(StrictSerializer):
    document_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=1000
    )
    metadata = serializers.DictField(required=False)


class SearchWeightsIn(StrictSerializer):
    vector = serializers.FloatField(min_value=0, max_value=10, default=1.0)
    text = serializers.FloatField(min_value=0, max_value=10, default=1.0)
    graph = serializers.FloatField(min_value=0, max_value=10, default=1.0)


class SearchIn(StrictSerializer):
    query = serializers.CharField(max_length=2000)
    search_type = serializers.ChoiceField(choices=SEARCH_TYPES, default="hybrid")
    limit = serializers.IntegerField(min_value=1, default=10)
    filters = SearchFiltersIn(required=False)
    fusion = serializers.ChoiceField(choices=["rrf", "weighted"], default="rrf")
    weights = SearchWeightsIn(required=False)
    text_weight = serializers.FloatField(min_value=0, max_value=1, default=0.3)
    as_of = serializers.DateTimeField(required=False)

    def validate_limit(self, value: int) -> int:
        maximum = int(settings.ATRIUM_SEARCH_MAX_LIMIT)
        if value > maximum:
            raise serializers.ValidationError(f"At most {maximum}.", code="max_value")
        return value


class HitOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["chunk", "fact"])
    score = serializers.FloatField()
    scores = serializers.DictField(child=serializers.FloatField())
    ranks = serializers.DictField(child=serializers.IntegerField())
    chunk_id = serializers.UUIDField(allow_null=True)
    document_id = serializers.UUIDField(allow_null=True)
    document_title = serializers.CharField()
    content = serializers.CharField()
    metadata = serializers.DictField()
    fact = serializers.DictField(allow_null=True)


class SearchOut(serializers.Serializer):
    search_type = serializers.CharField()
    hits = HitOut(many=True)
    degraded = serializers.ListField(
        child=serializers.CharField(),
        help_text=(
            "Parts of a hybrid search left out because their backend could not "
            'be reached (e.g. ["graph"]); the hits come from the rest.'
        ),
    )
