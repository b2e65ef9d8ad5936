from django.contrib import admin

from knowledge.models import Chunk, Document


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "workspace",
        "status",
        "chunk_count",
        "size_bytes",
        "created_at",
    ]
    list_filter = ["status", "content_type"]
    search_fields = ["title", "source", "content_hash", "id", "workspace__name"]
    list_select_related = ["workspace"]
    raw_id_fields = ["workspace", "created_by", "created_by_api_key"]
    # The stored original is shown by name only: storage gives no URLs, and a
    # file swapped here would bypass ingestion.
    exclude = ["file"]
    readonly_fields = [
        "id",
        "stored_file",
        "content_hash",
        "created_at",
        "updated_at",
        "stages",
    ]

    @admin.display(description="stored file")
    def stored_file(self, document: Document) -> str:
        return document.file.name


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ["document", "chunk_index", "workspace", "token_count"]
    search_fields = ["document__title", "id"]
    list_select_related = ["document", "workspace"]
    raw_id_fields = ["workspace", "document"]
    exclude = ["embedding"]
    readonly_fields = ["id", "created_at"]
