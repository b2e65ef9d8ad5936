"""Replacing a document's content from its page (``documents/<id>/replace/``).

The page posts to ``knowledge.services.document_reingest``; these tests check
what a person sees and what is stored: the new version queued and, once the
pipeline has run, the only chunks; refusals shown with their code and
nothing stored changed; viewers and other tenants refused.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from knowledge.ingestion import storage
from knowledge.models import Chunk, Document, DocumentStatus
from knowledge.services import document_create
from tenancy.context import as_workspace
from tenancy.models import AuditLog, Workspace
from tests.dashboard.conftest import People, page_text
from tests.knowledge.conftest import ingest, reload

pytestmark = pytest.mark.django_db

OLD = (
    b"# Handbook\n\n## Passwords\n\nChoose Forgot password on the sign-in page; "
    b"we email a reset link that works once.\n"
)
NEW = (
    b"# Handbook\n\n## Refunds\n\nRefunds are paid within thirty days to the "
    b"card used for the purchase.\n"
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def url(name: str, workspace: Workspace, *args: Any) -> str:
    return reverse(f"app:{name}", args=[workspace.pk, *args])


def named(name: str, data: bytes) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def ingested(workspace: Workspace, **content: Any) -> Document:
    """A document taken through the whole pipeline in this process."""
    with as_workspace(workspace.pk):
        document = document_create(workspace=workspace, **content).document
        ingest(document)
    return reload(document)


def guide(workspace: Workspace) -> Document:
    return ingested(workspace, file=io.BytesIO(OLD), filename="guide.md")


def chunk_texts(document: Document) -> list[str]:
    with as_workspace(document.workspace_id):
        return list(
            Chunk.objects.filter(document_id=document.pk)
            .order_by("chunk_index")
            .values_list("content", flat=True)
        )


def original(document: Document) -> bytes:
    with as_workspace(document.workspace_id):
        return storage.file_read(document.file.name)


def reingest_audits(document: Document) -> list[AuditLog]:
    with as_workspace(document.workspace_id):
        return list(
            AuditLog.objects.filter(
                action="document.reingest", target_id=str(document.pk)
            )
        )


def unchanged(before: Document) -> None:
    """The document as it was: content, status, stored original and chunks."""
    after = reload(before)
    assert after.content_hash == before.content_hash
    assert after.status == before.status == DocumentStatus.READY
    assert after.file.name == before.file.name
    assert after.chunk_count == before.chunk_count
    assert original(after) == OLD
    assert any("Forgot password" in text for text in chunk_texts(after))
    assert reingest_audits(after) == []


def replace(client: Client, document: Document, **data: Any) -> Any:
    workspace = Workspace(pk=document.workspace_id)
    return client.post(url("document_replace", workspace, document.pk), data)


# --- Replacing --------------------------------------------------------------------


def test_member_replaces_the_file_and_only_the_new_chunks_remain(people: People):
    document = guide(people.a1)
    old_file = document.file.name
    client = people.client("member")

    response = replace(client, document, file=named("guide-v2.md", NEW))

    detail = url("document", people.a1, document.pk)
    assert response.status_code == 302 and response["Location"] == detail
    replaced = reload(document)
    assert replaced.status == DocumentStatus.QUEUED
    assert replaced.content_hash == hashlib.sha256(NEW).hexdigest()
    assert replaced.source == "guide-v2.md"
    assert replaced.file.name != old_file and original(replaced) == NEW
    # Until the chunking stage runs, search still finds the old version.
    assert any("Forgot password" in text for text in chunk_texts(replaced))
    [audit] = reingest_audits(replaced)
    assert audit.actor_user_id == people.users["member"].pk
    page = page_text(client.get(detail))
    assert "Replacing “Handbook”: the new version is being ingested." in page
    assert replaced.content_hash in page

    with as_workspace(people.a1.pk):
        ingest(replaced)

    texts = chunk_texts(replaced)
    assert texts and all("Forgot password" not in text for text in texts)
    assert any("Refunds are paid within thirty days" in text for text in texts)
    assert reload(document).status == DocumentStatus.READY


def test_pasted_text_replaces_a_text_document(people: People):
    document = ingested(
        people.a1, text="Old refund rules: none.", title="Refund policy"
    )
    client = people.client("member")
    detail = url("document", people.a1, document.pk)

    form = page_text(client.get(detail))
    assert 'name="text"' in form and 'name="file"' in form
    assert "Old refund rules" not in form.split('id="replace"')[1].split("</form>")[0]

    response = replace(
        client, document, text="# Refunds\n\nWithin 30 days.", format="markdown"
    )

    assert response.status_code == 302
    replaced = reload(document)
    assert replaced.title == "Refund policy"
    assert replaced.metadata["format"] == "markdown"
    assert replaced.status == DocumentStatus.QUEUED
    with as_workspace(people.a1.pk):
        ingest(replaced)
    assert [t for t in chunk_texts(replaced) if "Old refund" in t] == []
    assert any("Within 30 days." in text for text in chunk_texts(replaced))
    # The next visit offers Markdown again, the document's format now.
    again = page_text(client.get(detail))
    assert '<option value="markdown" selected>' in again


def test_admin_replaces_a_file_with_pasted_text(people: People):
    document = guide(people.a1)

    response = replace(
        people.client("owner"), document, text="Plain replacement.", format="text"
    )

    assert response.status_code == 302
    replaced = reload(document)
    assert replaced.content_hash == hashlib.sha256(b"Plain replacement.").hexdigest()
    assert replaced.content_type == "text/plain"


def test_unchanged_content_is_a_no_op_that_says_so(people: People):
    document = guide(people.a1)
    client = people.client("member")

    response = replace(client, document, file=named("same.md", OLD))

    assert response.status_code == 302
    text = page_text(client.get(response["Location"]))
    assert "Nothing changed: “Handbook” already has this content." in text
    unchanged(document)
    assert reload(document).source == "guide.md"


# --- Refusals ---------------------------------------------------------------------


def test_content_of_another_document_is_refused_and_nothing_changes(people: People):
    document = guide(people.a1)
    other = ingested(people.a1, file=io.BytesIO(NEW), filename="other.md")

    response = replace(
        people.client("member"), document, text=NEW.decode(), format="markdown"
    )

    text = page_text(response)
    assert response.status_code == 409
    assert "<strong>Duplicate.</strong>" in text
    assert f"already holds this content as document {other.pk}" in text
    assert "<code>duplicate_content</code>" in text
    assert "Nothing was changed" in text
    # The form comes back open with the pasted text, so nothing typed is lost.
    assert '<details class="card replace" id="replace" open>' in text
    assert "Refunds are paid within thirty days" in text.split('id="replace"')[1]
    unchanged(document)


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        ("photo.txt", PNG, 415, "type_mismatch"),
        ("invoice.pdf", b"PK\x03\x04word/document.xml", 415, "type_mismatch"),
        ("tool.exe", b"MZ\x90\x00", 415, "unsupported_type"),
        ("macro.docm", b"PK\x03\x04", 415, "macro_document"),
        ("empty.md", b"", 400, "empty_file"),
        ("big.md", b"# Big\n\n" + b"a" * 3000, 413, "file_too_large"),
    ],
)
def test_hostile_or_oversized_file_is_refused_and_the_old_content_kept(
    people: People, settings: Any, name: str, data: bytes, status: int, code: str
):
    document = guide(people.a1)
    settings.ATRIUM_UPLOAD_MAX_BYTES = 2000

    response = replace(people.client("member"), document, file=named(name, data))

    text = page_text(response)
    assert response.status_code == status
    assert f"<code>{code}</code>" in text
    unchanged(document)


def test_request_over_the_total_limit_is_refused(people: People, settings: Any):
    document = guide(people.a1)
    settings.ATRIUM_UPLOAD_REQUEST_MAX_BYTES = 100

    response = replace(
        people.client("member"), document, file=named("big.md", NEW + b"a" * 500)
    )

    text = page_text(response)
    assert response.status_code == 413
    assert "<code>request_too_large</code>" in text
    unchanged(document)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"text": "   ", "format": "text"}, "Choose a new file or paste the new text."),
        (
            {"file": named("new.md", NEW), "text": "Also this", "format": "text"},
            "Upload a file or paste text, not both.",
        ),
        ({"text": "New words", "format": "rtf"}, "Select a valid choice."),
    ],
)
def test_a_form_without_exactly_one_new_version_says_what_is_missing(
    people: People, data: dict[str, Any], message: str
):
    document = guide(people.a1)

    response = replace(people.client("member"), document, **data)

    assert response.status_code == 400
    assert message in page_text(response)
    unchanged(document)


def test_the_refused_page_links_back_to_the_document_not_the_form(people: People):
    body = "\n\n".join(f"# Part {n}\n\nParagraph number {n}." for n in range(45))
    document = ingested(people.a1, file=io.BytesIO(body.encode()), filename="p.md")
    detail = url("document", people.a1, document.pk)

    response = replace(people.client("member"), document, file=named("x.exe", b"x"))

    text = page_text(response)
    assert response.status_code == 415
    assert f'href="{detail}?chunks=2#chunks"' in text


# --- Who may replace --------------------------------------------------------------


def test_writers_see_the_form_and_viewers_do_not(people: People):
    document = guide(people.a1)
    action = url("document_replace", people.a1, document.pk)
    detail = url("document", people.a1, document.pk)

    for persona in ("owner", "admin", "member"):
        text = page_text(people.client(persona).get(detail))
        assert action in text, persona
        assert 'enctype="multipart/form-data"' in text, persona
        assert "csrfmiddlewaretoken" in text, persona
    viewer = page_text(people.client("viewer").get(detail))
    assert action not in viewer and "Replace content" not in viewer


def test_viewer_forged_post_is_refused_and_changes_nothing(people: People):
    document = guide(people.a1)
    viewer = people.client("viewer")

    by_file = replace(viewer, document, file=named("new.md", NEW))
    by_text = replace(viewer, document, text="Overwritten", format="text")

    assert [by_file.status_code, by_text.status_code] == [403, 403]
    unchanged(document)


def test_replacing_needs_a_valid_csrf_token(people: People):
    document = guide(people.a1)
    client = people.client("member", enforce_csrf_checks=True)

    response = replace(client, document, file=named("new.md", NEW))

    assert response.status_code == 403
    unchanged(document)


def test_another_organizations_document_is_404_through_this_url(people: People):
    theirs = guide(people.b1)
    mine = ingested(people.a1, file=io.BytesIO(NEW), filename="mine.md")
    client = people.client("owner")

    responses = [
        # Their workspace, their document.
        client.post(
            url("document_replace", people.b1, theirs.pk),
            {"file": named("x.md", b"# Mine now")},
        ),
        # My workspace, their document's id.
        client.post(
            url("document_replace", people.a1, theirs.pk),
            {"text": "Mine now", "format": "text"},
        ),
        # Their owner, my document.
        people.client("outsider").post(
            url("document_replace", people.a1, mine.pk),
            {"text": "Theirs now", "format": "text"},
        ),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    unchanged(theirs)
    assert reload(mine).content_hash == hashlib.sha256(NEW).hexdigest()


def test_a_document_of_another_workspace_of_the_organization_is_404(people: People):
    theirs = guide(people.a2)

    response = replace(
        people.client("member"), theirs, text="Overwritten", format="text"
    )

    assert response.status_code == 404
    unchanged(theirs)
