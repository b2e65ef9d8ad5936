"""The dashboard's documents pages: roles, isolation, uploads, live stages.

Every page is requested as each persona: the workspace's admin (the
organization owner), a member, a viewer, and an outsider from another
organization. Templates render with ``string_if_invalid`` set, so a variable
that does not resolve fails the test instead of printing nothing.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from config.celery import app
from knowledge import services
from knowledge.models import Chunk, Document, DocumentStatus
from tenancy import services as tenancy_services
from tenancy.context import as_user, as_workspace
from tenancy.models import Workspace
from tests.knowledge.conftest import ingest, reload
from tests.support.graph import falkordb_server, graph_on
from tests.support.tenants import Tenant, make_tenant, make_user
from tests.support.worker import Worker, start_worker, stop_worker

__all__ = ["falkordb_server", "graph_on"]

pytestmark = pytest.mark.django_db

INVALID = "TEMPLATE-VARIABLE-MISSING"
# Joins heading paths and archive member names on the pages.
SEP = " \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} "
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
GUIDE = (
    "# Handbook\n\n## Passwords\n\nChoose Forgot password on the sign-in page; "
    "we email a reset link that works once.\n\n## Billing\n\nInvoices are sent "
    "on the first day of each month.\n"
)


@pytest.fixture(autouse=True)
def strict_templates(settings):  # type: ignore[no-untyped-def]
    """A variable that fails to resolve prints a marker the tests look for."""
    templates = [dict(t) for t in settings.TEMPLATES]
    templates[0]["OPTIONS"] = {
        **templates[0]["OPTIONS"],
        "string_if_invalid": INVALID,
    }
    settings.TEMPLATES = templates


@dataclass
class World:
    tenant: Tenant
    member: User
    viewer: User
    outsider: Tenant

    @property
    def workspace(self) -> Workspace:
        return self.tenant.workspace

    def user(self, role: str) -> User:
        return {
            "admin": self.tenant.owner,
            "member": self.member,
            "viewer": self.viewer,
            "outsider": self.outsider.owner,
        }[role]

    def client(self, role: str) -> Client:
        client = Client()
        client.force_login(self.user(role))
        return client


def join(tenant: Tenant, role: str) -> User:
    user = make_user(role)
    with as_user(tenant.owner.pk):
        tenancy_services.organization_member_add(
            organization=tenant.organization, user=user
        )
        tenancy_services.workspace_member_add(
            workspace=tenant.workspace, user=user, role=role
        )
    return user


@pytest.fixture
def world(tenant_a: Tenant, tenant_b: Tenant) -> World:
    return World(
        tenant=tenant_a,
        member=join(tenant_a, "member"),
        viewer=join(tenant_a, "viewer"),
        outsider=tenant_b,
    )


def url(name: str, workspace: Workspace, *args: Any) -> str:
    return reverse(f"app:{name}", args=[workspace.pk, *args])


def stored(workspace: Workspace, name: str, data: bytes) -> Document:
    """A document uploaded through the service, as the workspace's system work."""
    with as_workspace(workspace.pk):
        return services.document_create(
            workspace=workspace, file=io.BytesIO(data), filename=name
        ).document


def ingested(workspace: Workspace, name: str, data: bytes) -> Document:
    """A document taken through the whole pipeline in this process."""
    document = stored(workspace, name, data)
    with as_workspace(workspace.pk):
        ingest(document)
    return reload(document)


def named(name: str, data: bytes) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def documents_of(workspace: Workspace) -> list[Document]:
    with as_workspace(workspace.pk):
        return list(Document.objects.filter(workspace=workspace).order_by("title"))


def html(response: Any) -> str:
    text = response.content.decode()
    assert INVALID not in text, "a template variable did not resolve"
    return text


def upload_json(client: Client, workspace: Workspace, *files: io.BytesIO) -> Any:
    response = client.post(
        url("document_upload", workspace),
        {"files": list(files)},
        HTTP_ACCEPT="application/json",
    )
    return response


# --- Every page, every role ---------------------------------------------------


def test_list_page_renders_for_every_role_with_controls_by_role(world):
    document = ingested(world.workspace, "guide.md", GUIDE.encode())

    for role in ("admin", "member", "viewer"):
        response = world.client(role).get(url("documents", world.workspace))
        text = html(response)
        assert response.status_code == 200, role
        assert document.title in text
        writes = role != "viewer"
        assert ("data-dropzone" in text) is writes, role
        assert (url("document_delete", world.workspace, document.pk) in text) is (
            writes
        ), role

    outsider = world.client("outsider").get(url("documents", world.workspace))
    assert outsider.status_code == 404


def test_the_template_check_can_fail():
    from django.template import engines

    assert engines["django"].from_string("{{ missing }}").render({}) == INVALID


def test_document_page_renders_for_every_role(world):
    document = ingested(world.workspace, "guide.md", GUIDE.encode())
    page = url("document", world.workspace, document.pk)

    for role in ("admin", "member", "viewer"):
        response = world.client(role).get(page)
        text = html(response)
        assert response.status_code == 200, role
        assert f"Handbook{SEP}Passwords" in text
        assert "Forgot password" in text
        writes = role != "viewer"
        assert (url("document_delete", world.workspace, document.pk) in text) is (
            writes
        ), role
        assert ("confirm-dialog" in text) is writes, role

    assert world.client("outsider").get(page).status_code == 404


def test_delete_confirmation_page_is_for_writers_only(world):
    document = stored(world.workspace, "guide.md", GUIDE.encode())
    page = url("document_delete", world.workspace, document.pk)

    for role in ("admin", "member"):
        response = world.client(role).get(page)
        assert response.status_code == 200, role
        assert "cannot be undone" in html(response)
    assert world.client("viewer").get(page).status_code == 403
    assert world.client("outsider").get(page).status_code == 404
    assert documents_of(world.workspace) == [document]


def test_anonymous_visitors_are_sent_to_log_in(world):
    response = Client().get(url("documents", world.workspace))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_viewer_forged_posts_are_refused_and_change_nothing(world):
    failed = stored(world.workspace, "broken.pdf", b"%PDF-1.4 not really a pdf")
    with as_workspace(world.workspace.pk):
        ingest(failed)
    viewer = world.client("viewer")

    upload = viewer.post(
        url("document_upload", world.workspace),
        {"files": [named("new.md", b"# New\n\ntext")]},
    )
    text = viewer.post(
        url("document_upload", world.workspace),
        {"title": "Pasted", "text": "Some text", "format": "text"},
    )
    retry = viewer.post(url("document_retry", world.workspace, failed.pk))
    delete = viewer.post(
        url("document_delete", world.workspace, failed.pk), {"confirm": "yes"}
    )

    assert [r.status_code for r in (upload, text, retry, delete)] == [403] * 4
    assert documents_of(world.workspace) == [failed]
    assert reload(failed).status == DocumentStatus.FAILED


# --- Isolation -----------------------------------------------------------------


def test_another_workspace_is_404_on_every_page(world):
    foreign = world.outsider.workspace
    document = stored(foreign, "theirs.md", b"# Theirs\n\nsecret plans")
    client = world.client("admin")

    responses = [
        client.get(url("documents", foreign)),
        client.get(url("document", foreign, document.pk)),
        client.get(url("document_delete", foreign, document.pk)),
        client.post(url("document_upload", foreign), {"files": [named("x.md", b"x")]}),
        client.post(url("document_retry", foreign, document.pk)),
        client.post(url("document_delete", foreign, document.pk), {"confirm": "yes"}),
    ]

    assert [r.status_code for r in responses] == [404] * len(responses)
    assert documents_of(foreign) == [document]


def test_another_workspaces_document_under_my_workspace_is_404(world):
    foreign = stored(world.outsider.workspace, "theirs.md", b"# Theirs\n\nsecret")
    client = world.client("admin")
    mine = world.workspace

    responses = [
        client.get(url("document", mine, foreign.pk)),
        client.get(
            url("document", mine, foreign.pk),
            HTTP_HX_REQUEST="true",
            HTTP_HX_TARGET="document-live",
        ),
        client.get(url("document_delete", mine, foreign.pk)),
        client.post(url("document_retry", mine, foreign.pk)),
        client.post(url("document_delete", mine, foreign.pk), {"confirm": "yes"}),
    ]

    assert [r.status_code for r in responses] == [404] * len(responses)
    assert documents_of(world.outsider.workspace) == [foreign]


def test_list_never_shows_another_workspaces_documents(world):
    stored(world.outsider.workspace, "theirs.md", b"# Their canary\n\nsecret")
    stored(world.workspace, "mine.md", b"# My handbook\n\ntext")

    text = html(world.client("admin").get(url("documents", world.workspace)))

    assert "My handbook" in text or "mine" in text
    assert "canary" not in text and "theirs" not in text


# --- Uploads -------------------------------------------------------------------


def test_form_upload_of_several_files_without_javascript(world):
    client = world.client("member")

    response = client.post(
        url("document_upload", world.workspace),
        {"files": [named("guide.md", GUIDE.encode()), named("notes.txt", b"Notes")]},
    )

    assert response.status_code == 302
    assert response["Location"] == url("documents", world.workspace)
    documents = documents_of(world.workspace)
    assert sorted(d.source for d in documents) == ["guide.md", "notes.txt"]
    assert {d.status for d in documents} == {DocumentStatus.QUEUED}
    assert {d.created_by_id for d in documents} == {world.member.pk}
    text = html(client.get(response["Location"]))
    assert text.count("upload--created") == 2
    assert "Queued for ingestion." in text
    # The outcomes are shown once, not on every later visit.
    assert "upload--created" not in html(client.get(url("documents", world.workspace)))


def test_json_upload_reports_each_file_with_its_stable_reason(world, settings):
    settings.ATRIUM_UPLOAD_MAX_BYTES = 2000
    client = world.client("member")

    response = upload_json(
        client,
        world.workspace,
        named("guide.md", GUIDE.encode()),
        named("again.md", GUIDE.encode()),
        named("photo.txt", PNG),
        named("big.txt", b"a" * 2001),
        named("tool.exe", b"MZ\x90\x00"),
        named("macro.docm", b"PK\x03\x04"),
        named("empty.txt", b""),
    )

    assert response.status_code == 200
    files = response.json()["files"]
    assert [(f["name"], f["outcome"], f["code"]) for f in files] == [
        ("guide.md", "created", ""),
        ("again.md", "duplicate", "duplicate_content"),
        ("photo.txt", "refused", "type_mismatch"),
        ("big.txt", "refused", "file_too_large"),
        ("tool.exe", "refused", "unsupported_type"),
        ("macro.docm", "refused", "macro_document"),
        ("empty.txt", "refused", "empty_file"),
    ]
    created = documents_of(world.workspace)
    assert len(created) == 1
    assert files[0]["url"] == url("document", world.workspace, created[0].pk)
    assert files[1]["document_id"] == str(created[0].pk)
    assert files[1]["message"] == "Already in this workspace: nothing was added."
    assert [f["reason"] for f in files[2:4]] == ["Type mismatch", "Too large"]
    assert all(f["message"] for f in files)


def test_hostile_upload_without_javascript_shows_a_clear_error(world):
    client = world.client("admin")

    response = client.post(
        url("document_upload", world.workspace),
        {"files": [named("invoice.pdf", b"PK\x03\x04word/document.xml")]},
        follow=True,
    )

    text = html(response)
    assert response.status_code == 200
    assert "upload--refused" in text
    assert "Type mismatch" in text
    assert '<code class="upload__code">type_mismatch</code>' in text
    assert documents_of(world.workspace) == []


def test_plan_limit_refuses_the_file_past_it_and_keeps_the_others(db):
    tenant = make_tenant("limited", max_documents_per_workspace=2)
    client = Client()
    client.force_login(tenant.owner)

    response = upload_json(
        client,
        tenant.workspace,
        named("one.md", b"# One\n\nfirst"),
        named("two.md", b"# Two\n\nsecond"),
        named("three.md", b"# Three\n\nthird"),
    )

    files = response.json()["files"]
    assert [f["outcome"] for f in files] == ["created", "created", "refused"]
    assert files[2]["code"] == "plan_limit_exceeded"
    assert files[2]["reason"] == "Plan limit reached"
    assert files[2]["help_url"] == reverse("app:billing", args=[tenant.organization.pk])
    assert len(documents_of(tenant.workspace)) == 2


def test_zip_upload_adds_each_file_and_refuses_a_bad_entry(world):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("docs/guide.md", GUIDE)
        bundle.writestr("docs/image.txt", PNG)

    response = upload_json(
        world.client("member"), world.workspace, named("bundle.zip", archive.getvalue())
    )

    files = response.json()["files"]
    assert [(f["name"], f["outcome"], f["code"]) for f in files] == [
        (f"bundle.zip{SEP}guide.md", "created", ""),
        (f"bundle.zip{SEP}image.txt", "refused", "type_mismatch"),
    ]
    assert [d.source for d in documents_of(world.workspace)] == ["guide.md"]


def test_corrupt_zip_is_refused_as_a_whole(world):
    response = upload_json(
        world.client("member"), world.workspace, named("bundle.zip", b"PK\x03\x04no")
    )

    assert [(f["outcome"], f["code"]) for f in response.json()["files"]] == [
        ("refused", "corrupt_file")
    ]


def test_pasted_text_becomes_a_document(world):
    client = world.client("member")

    response = client.post(
        url("document_upload", world.workspace),
        {
            "title": "Refund policy",
            "text": "# Refunds\n\nWithin 30 days.",
            "format": "markdown",
        },
    )

    assert response.status_code == 302
    [document] = documents_of(world.workspace)
    assert document.title == "Refund policy"
    assert document.metadata["format"] == "markdown"
    assert document.source == ""
    assert "Refund policy" in html(client.get(response["Location"]))


def test_pasted_text_needs_a_title_and_text(world):
    response = world.client("member").post(
        url("document_upload", world.workspace),
        {"title": "", "text": "   ", "format": "text"},
    )

    text = html(response)
    assert response.status_code == 400
    assert "This field is required." in text
    assert "Paste some text." in text
    assert '<details class="paste" open>' in text
    assert documents_of(world.workspace) == []


def test_upload_without_files_says_so(world):
    response = world.client("member").post(url("document_upload", world.workspace), {})

    assert response.status_code == 400
    assert "Choose at least one file." in html(response)


def test_request_over_the_total_limit_is_refused_before_reading(world, settings):
    settings.ATRIUM_UPLOAD_REQUEST_MAX_BYTES = 100

    response = upload_json(
        world.client("member"),
        world.workspace,
        named("big.md", b"# Big\n\n" + b"a" * 500),
    )

    assert response.status_code == 413
    assert response.json()["files"][0]["code"] == "request_too_large"
    assert documents_of(world.workspace) == []


# --- The list --------------------------------------------------------------------


def many(workspace: Workspace, count: int, status: str = "ready") -> list[Document]:
    with as_workspace(workspace.pk):
        return Document.objects.bulk_create(
            Document(
                workspace=workspace,
                title=f"Report {n:02d}",
                content_hash=f"{n:064x}",
                status=status,
                progress=100 if status == "ready" else 40,
            )
            for n in range(count)
        )


def titles(text: str) -> list[str]:
    return re.findall(r">(Report \d\d)</a>", text)


def test_list_filters_by_status_and_title(world):
    many(world.workspace, 3)
    with as_workspace(world.workspace.pk):
        Document.objects.filter(title="Report 01").update(status="embedding")
        Document.objects.filter(title="Report 02").update(
            status="failed", error="no_text: The document has no text."
        )
    client = world.client("viewer")
    page = url("documents", world.workspace)

    assert titles(html(client.get(page, {"status": "ready"}))) == ["Report 00"]
    assert titles(html(client.get(page, {"status": "active"}))) == ["Report 01"]
    failed = html(client.get(page, {"status": "failed"}))
    assert titles(failed) == ["Report 02"]
    assert "The document has no text." in failed and "<code>no_text</code>" in failed
    assert titles(html(client.get(page, {"q": "report 0"}))) == [
        "Report 02",
        "Report 01",
        "Report 00",
    ]
    one = html(client.get(page, {"q": "01"}))
    assert titles(one) == ["Report 01"]
    assert "1 of 3 documents match" in one
    nothing = html(client.get(page, {"q": "nothing like it"}))
    assert "No document matches these filters." in nothing
    # A hand-edited link shows everything rather than an error.
    assert len(titles(html(client.get(page, {"status": "bogus"})))) == 3


def test_list_paginates_and_keeps_the_filters(world):
    many(world.workspace, 30)
    client = world.client("member")
    page = url("documents", world.workspace)

    first = html(client.get(page, {"q": "Report"}))
    second = html(client.get(page, {"q": "Report", "page": 2}))

    assert len(titles(first)) == 25 and len(titles(second)) == 5
    assert not set(titles(first)) & set(titles(second))
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert f'href="{page}?q=Report&amp;page=2"' in first
    # A page past the end shows the last one.
    assert titles(html(client.get(page, {"page": 99}))) == titles(second)


def test_list_queries_do_not_grow_with_the_documents(
    world, django_assert_max_num_queries
):
    client = world.client("member")
    page = url("documents", world.workspace)
    many(world.workspace, 2)
    client.get(page)  # the session and caches are warm from here on
    with django_assert_max_num_queries(100) as few:
        client.get(page)
    with as_workspace(world.workspace.pk):
        Document.objects.all().delete()
    many(world.workspace, 25, status="embedding")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(page)
    assert len(titles(html(response))) == 25


def test_list_polls_while_documents_are_in_progress_and_stops_after(world):
    document = stored(world.workspace, "guide.md", GUIDE.encode())
    client = world.client("viewer")
    page = url("documents", world.workspace)

    busy = html(client.get(page))
    assert 'hx-trigger="every 2s"' in busy
    assert "1 in progress" in busy
    assert 'aria-label="guide: Queued, 0 percent"' in busy

    fragment = client.get(
        page, {"status": ""}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="documents-list"
    )
    text = html(fragment)
    assert text.lstrip().startswith('<div id="documents-list"')
    assert "<html" not in text
    assert "HX-Request" in fragment["Vary"]

    with as_workspace(world.workspace.pk):
        ingest(document)
    done = html(
        client.get(page, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="documents-list")
    )
    assert "hx-trigger" not in done
    assert "Ready" in done


def test_list_shows_each_stage_with_progress(world):
    many(world.workspace, 1)
    with as_workspace(world.workspace.pk):
        for status, progress in (
            ("queued", 0),
            ("parsing", 5),
            ("chunking", 15),
            ("embedding", 55),
            ("graph", 90),
        ):
            Document.objects.create(
                workspace=world.workspace,
                title=f"In {status}",
                status=status,
                progress=progress,
            )

    text = html(world.client("viewer").get(url("documents", world.workspace)))

    for label, progress in (
        ("Queued", 0),
        ("Parsing", 5),
        ("Chunking", 15),
        ("Embedding", 55),
        ("Building graph", 90),
    ):
        assert f'<span class="badge badge--info">{label}</span>' in text
        assert f'max="100" value="{progress}"' in text
    assert '<span class="badge badge--success">Ready</span>' in text
    assert "5 in progress" in text


# --- One document ------------------------------------------------------------------


def test_document_page_shows_metadata_stages_and_numbered_chunks(world, settings):
    document = ingested(world.workspace, "guide.md", GUIDE.encode())

    text = html(
        world.client("viewer").get(url("document", world.workspace, document.pk))
    )

    assert '<span class="doc-title">Handbook</span>' in text
    assert "guide.md" in text and "text/markdown" in text
    assert document.content_hash in text
    assert f"by {world.tenant.owner.email}" not in text  # uploaded as system work
    for stage in ("Parsing", "Chunking", "Embedding", "Knowledge graph"):
        assert f"<strong>{stage}</strong>" in text
    assert text.count('class="stage stage--done"') == 3
    assert 'class="stage stage--skipped"' in text
    assert "took " in text and " s</div>" in text
    assert "of 3 chunks" in text
    assert re.findall(r'chunk__index">(#\d+)<', text) == ["#1", "#2", "#3"]
    assert f"Handbook{SEP}Billing" in text
    assert "The knowledge graph is turned off in this installation" in text
    assert "hx-trigger" not in text


def test_document_chunks_are_paginated(world):
    text = "\n\n".join(f"# Part {n}\n\nParagraph number {n}." for n in range(45))
    document = ingested(world.workspace, "parts.md", text.encode())
    with as_workspace(world.workspace.pk):
        count = Chunk.objects.filter(document=document).count()
    assert count > 20
    page = url("document", world.workspace, document.pk)
    client = world.client("member")

    first = html(client.get(page))
    second = html(client.get(page, {"chunks": 2}))

    assert re.findall(r'chunk__index">#(\d+)<', first) == [str(n) for n in range(1, 21)]
    assert re.findall(r'chunk__index">#(\d+)<', second)[0] == "21"
    assert f"Chunks 1\N{EN DASH}20 of {count}" in first
    # Absolute, so the links still work on a page answered at another URL
    # (a refused replacement, documents/<id>/replace/).
    assert f'href="{page}?chunks=2#chunks"' in first


def test_failed_document_shows_its_stage_error_and_a_retry(world):
    document = stored(world.workspace, "broken.pdf", b"%PDF-1.4 nothing else")
    with as_workspace(world.workspace.pk):
        ingest(document)
    page = url("document", world.workspace, document.pk)

    text = html(world.client("member").get(page))
    viewer = html(world.client("viewer").get(page))

    assert 'class="stage stage--failed"' in text
    assert "<code>corrupt_file</code>" in text
    assert url("document_retry", world.workspace, document.pk) in text
    assert "<code>corrupt_file</code>" in viewer
    assert url("document_retry", world.workspace, document.pk) not in viewer


def test_document_live_region_polls_then_reloads_when_done(world):
    document = stored(world.workspace, "guide.md", GUIDE.encode())
    client = world.client("viewer")
    page = url("document", world.workspace, document.pk)
    live = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "document-live"}

    assert 'hx-trigger="every 2s"' in html(client.get(page))
    fragment = client.get(page, **live)
    assert html(fragment).lstrip().startswith('<section id="document-live"')
    assert "Queued" in html(fragment)

    with as_workspace(world.workspace.pk):
        ingest(document)
    finished = client.get(page, **live)
    assert finished.status_code == 204
    assert finished["HX-Refresh"] == "true"


def test_document_page_lists_its_graph_facts(world, graph_on):
    history = (
        "# Acme history\n\nIn 2019, Acme Corp acquired Beta Labs. The deal closed "
        "in Lisbon.\n\n## Leadership\n\nBob Stone led Acme Corp until 2021.\n"
    )
    document = ingested(world.workspace, "history.md", history.encode())
    other = ingested(
        world.workspace, "other.md", b"# Other\n\nZeta Corp acquired Omega Labs."
    )
    assert document.stages["graph"]["state"] == "done"

    text = html(
        world.client("viewer").get(url("document", world.workspace, document.pk))
    )

    assert "Acme Corp" in text and "Beta Labs" in text and "ACQUIRED" in text
    assert "Bob Stone" in text
    assert "Zeta Corp" not in text and "Omega Labs" not in text
    assert re.search(r'href="[^"]*\?chunks=1#chunk-\d+">Chunk \d+</a>', text)
    assert other.stages["graph"]["state"] == "done"


def test_document_page_says_plainly_when_the_graph_is_unreachable(world, settings):
    document = ingested(world.workspace, "guide.md", GUIDE.encode())
    with as_workspace(world.workspace.pk):
        document.stages = {**document.stages, "graph": {"state": "done", "facts": 1}}
        document.save(update_fields=["stages"])
    settings.ATRIUM_GRAPH_BACKEND = "falkordb"
    settings.ATRIUM_GRAPH_HOST = "127.0.0.1"
    settings.ATRIUM_GRAPH_PORT = 9  # nothing listens on the discard port

    response = world.client("viewer").get(url("document", world.workspace, document.pk))

    text = html(response)
    assert response.status_code == 200
    assert "cannot be reached right now" in text
    assert f"Handbook{SEP}Passwords" in text


# --- Retry and delete -----------------------------------------------------------------


def test_retry_requeues_a_failed_document(world):
    document = stored(world.workspace, "broken.pdf", b"%PDF-1.4 nothing else")
    with as_workspace(world.workspace.pk):
        ingest(document)
    client = world.client("member")
    next_page = url("documents", world.workspace) + "?status=failed"

    response = client.post(
        url("document_retry", world.workspace, document.pk), {"next": next_page}
    )

    assert response.status_code == 302 and response["Location"] == next_page
    retried = reload(document)
    assert retried.status == DocumentStatus.QUEUED and retried.error == ""
    assert retried.stages["parsing"] == {"state": "pending"}
    assert "Retrying “broken”." in html(client.get(url("documents", world.workspace)))


def test_retry_of_a_document_that_did_not_fail_explains_why(world):
    document = ingested(world.workspace, "guide.md", GUIDE.encode())
    client = world.client("member")

    response = client.post(
        url("document_retry", world.workspace, document.pk),
        {"next": "https://elsewhere.example/"},
        follow=True,
    )

    assert response.redirect_chain[0][0] == url("documents", world.workspace)
    assert "Only a failed document can be retried." in html(response)
    assert reload(document).status == DocumentStatus.READY


def test_delete_asks_first_then_deletes_with_chunks(world):
    document = ingested(world.workspace, "guide.md", GUIDE.encode())
    client = world.client("member")
    delete = url("document_delete", world.workspace, document.pk)

    unconfirmed = client.post(delete)
    assert unconfirmed.status_code == 200
    assert "cannot be undone" in html(unconfirmed)
    assert documents_of(world.workspace) == [document]

    response = client.post(delete, {"confirm": "yes"}, follow=True)

    assert response.redirect_chain[-1][0] == url("documents", world.workspace)
    assert "Deleted “Handbook”." in html(response)
    assert documents_of(world.workspace) == []
    with as_workspace(world.workspace.pk):
        assert not Chunk.objects.filter(document_id=document.pk).exists()


# --- With a real worker --------------------------------------------------------------

QUEUES = ("ingest", "embed", "graph", "default")


@pytest.fixture
def worker(settings, tmp_path) -> Iterator[Worker]:  # type: ignore[no-untyped-def]
    """A worker on the pipeline's queues, sharing this test's media root."""
    process = start_worker(
        tmp_path,
        queues=QUEUES,
        extra_env={"ATRIUM_MEDIA_ROOT": str(settings.MEDIA_ROOT)},
    )
    yield process
    stop_worker(process)
    with app.connection_for_write() as connection:
        for queue in QUEUES:
            connection.default_channel.queue_purge(queue)


def settled(client: Client, page: str, worker: Worker, *, timeout: float = 90) -> str:
    """The list once nothing is in progress, as its polling would see it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = html(
            client.get(page, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="documents-list")
        )
        if "hx-trigger" not in text:
            return text
        time.sleep(0.3)
    raise AssertionError(
        f"still in progress; worker log:\n{worker.log.read_text()[-4000:]}"
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_upload_is_ingested_by_the_worker_then_retried_and_deleted(worker):
    tenant = make_tenant("live")
    client = Client()
    client.force_login(tenant.owner)
    page = url("documents", tenant.workspace)

    uploaded = upload_json(
        client,
        tenant.workspace,
        named("guide.md", GUIDE.encode()),
        named("broken.pdf", b"%PDF-1.4 nothing else"),
    ).json()["files"]
    assert [f["outcome"] for f in uploaded] == ["created", "created"]

    text = settled(client, page, worker)
    assert '<span class="badge badge--success">Ready</span>' in text
    assert ">Handbook</a>" in text
    assert "Failed · Parsing" in text and "<code>corrupt_file</code>" in text
    ready, broken = (uploaded[0]["document_id"], uploaded[1]["document_id"])
    detail = html(client.get(url("document", tenant.workspace, ready)))
    assert detail.count('class="stage stage--done"') == 3
    assert f"Handbook{SEP}Passwords" in detail

    retried = client.post(url("document_retry", tenant.workspace, broken))
    assert retried.status_code == 302
    again = settled(client, page, worker)
    assert "<code>corrupt_file</code>" in again
    with as_workspace(tenant.workspace.pk):
        assert Document.objects.get(pk=broken).attempts == 1

    client.post(url("document_delete", tenant.workspace, broken), {"confirm": "yes"})
    after = html(client.get(page))
    assert ">broken</a>" not in after and ">Handbook</a>" in after
    assert "Deleted “broken”." in after
    assert [d.title for d in documents_of(tenant.workspace)] == ["Handbook"]
