"""Documents, bulk ingestion and search through the API."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from knowledge.models import Chunk, Document
from tenancy.context import as_user, as_workspace
from tenancy.models import Organization
from tests.knowledge.conftest import ingest

pytestmark = pytest.mark.django_db

PASSWORD_DOC = (
    "# Resetting your password\n\nChoose Forgot password on the sign-in page; "
    "we email a reset link that works once."
)


def docs_path(world, *rest):  # type: ignore[no-untyped-def]
    return "/".join([f"/v1/workspaces/{world.a1.pk}/documents", *map(str, rest)])


def upload_text(api, world, title="Password reset", text=PASSWORD_DOC):  # type: ignore[no-untyped-def]
    return api.post(
        docs_path(world), {"title": title, "text": text, "format": "markdown"}
    )


def multipart(api, path, **files):  # type: ignore[no-untyped-def]
    return api.client.post(path, data=files)


def named(name: str, data: bytes) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def uploaded(world):  # type: ignore[no-untyped-def]
    """Documents of A1 other than the one every world starts with."""
    return Document.objects.filter(workspace=world.a1).exclude(pk=world.document.pk)


def processed(document_id):  # type: ignore[no-untyped-def]
    document = Document.objects.get(pk=document_id)
    with as_workspace(document.workspace_id):
        return ingest(document)


def test_text_upload_is_queued_then_searchable(world):
    api = world.api("key_all")
    created = upload_text(api, world)
    body = created.json()[0]
    assert created.status_code == 201
    assert body["created"] is True and body["document"]["status"] == "queued"

    document_id = body["document"]["id"]
    with as_user(world.users["owner"].pk):
        processed(document_id)
    detail = api.get(docs_path(world, document_id)).json()
    assert detail["status"] == "ready" and detail["chunk_count"] >= 1
    assert detail["stages"]["embedding"]["state"] == "done"

    found = api.post(
        f"/v1/workspaces/{world.a1.pk}/search",
        {"query": "I forgot my password", "search_type": "hybrid", "limit": 3},
    ).json()
    assert found["hits"][0]["document_id"] == document_id
    assert found["hits"][0]["document_title"] == "Password reset"


def test_identical_content_is_stored_once(world):
    api = world.api("owner")
    first = upload_text(api, world)
    again = upload_text(api, world, title="Another title")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()[0]["created"] is False
    assert again.json()[0]["document"]["id"] == first.json()[0]["document"]["id"]


def test_multipart_uploads_of_several_files(world):
    api = world.api("owner")
    response = multipart(
        api,
        docs_path(world),
        file=[named("a.txt", b"alpha text"), named("b.md", b"# Beta\n\nbeta")],
    )
    assert response.status_code == 201
    titles = sorted(d["document"]["title"] for d in response.json())
    assert len(titles) == 2 and all(d["created"] for d in response.json())
    assert titles == ["a", "b"]  # from the file names until parsing finds better


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        ("picture.txt", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, 415, "type_mismatch"),
        ("script.exe", b"MZ", 415, "unsupported_type"),
        ("empty.txt", b"", 400, "empty_file"),
    ],
)
def test_refused_files_store_nothing(world, name, data, status, code):
    api = world.api("owner")
    response = multipart(api, docs_path(world), file=named(name, data))
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    with as_user(world.users["owner"].pk):
        assert not uploaded(world).exists()


def test_too_large_files_answer_413(world, settings):
    settings.ATRIUM_UPLOAD_MAX_BYTES = 100
    response = multipart(
        world.api("owner"), docs_path(world), file=named("a.txt", b"x" * 500)
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"


def test_the_document_limit_holds(world):
    with as_user(world.users["owner"].pk):
        Organization.objects.filter(pk=world.org_a.pk).update(
            max_documents_per_workspace=2  # the world holds one already
        )
    api = world.api("owner")
    assert upload_text(api, world).status_code == 201
    refused = upload_text(api, world, title="Two", text="another document")
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["limit"] == "documents_per_workspace"
    with as_user(world.users["owner"].pk):
        assert uploaded(world).count() == 1


def test_several_files_in_one_request_fill_the_limit_exactly(world):
    with as_user(world.users["owner"].pk):
        Organization.objects.filter(pk=world.org_a.pk).update(
            max_documents_per_workspace=3  # the world holds one already
        )
    files = [named("one.txt", b"first file"), named("two.txt", b"second file")]
    response = multipart(world.api("owner"), docs_path(world), file=files)
    assert response.status_code == 201, response.content
    assert [item["created"] for item in response.json()] == [True, True]

    files = [named("three.txt", b"third file")]
    refused = multipart(world.api("owner"), docs_path(world), file=files)
    assert refused.status_code == 403
    with as_user(world.users["owner"].pk):
        assert uploaded(world).count() == 2


def test_list_filters_by_status_and_delete_removes_chunks(world):
    api = world.api("owner")
    ready_id = upload_text(api, world).json()[0]["document"]["id"]
    queued_id = upload_text(api, world, title="Q", text="queued text").json()[0][
        "document"
    ]["id"]
    with as_user(world.users["owner"].pk):
        processed(ready_id)

    ready = api.get(docs_path(world) + "?status=ready").json()["results"]
    assert [d["id"] for d in ready] == [ready_id, str(world.document.pk)]
    assert api.get(docs_path(world) + "?status=bogus").status_code == 400

    assert api.delete(docs_path(world, ready_id)).status_code == 204
    with as_user(world.users["owner"].pk):
        assert not Chunk.objects.filter(document_id=ready_id).exists()
    assert api.get(docs_path(world, ready_id)).status_code == 404
    assert api.get(docs_path(world, queued_id)).status_code == 200


def test_scopes_and_tenants(world):
    search_only = world.api("key_search")
    assert (
        search_only.post(
            f"/v1/workspaces/{world.a1.pk}/search",
            {"query": "x", "search_type": "text"},
        ).status_code
        == 200
    )
    assert upload_text(search_only, world).status_code == 403
    assert search_only.get(docs_path(world)).status_code == 403

    document_id = upload_text(world.api("owner"), world).json()[0]["document"]["id"]
    outsider = world.api("outsider")
    for response in (
        outsider.get(docs_path(world, document_id)),
        outsider.delete(docs_path(world, document_id)),
        outsider.post(f"/v1/workspaces/{world.a1.pk}/search", {"query": "x"}),
        world.api("key_b").get(docs_path(world, document_id)),
    ):
        assert response.status_code == 404
    # Named under the outsider's own workspace, the document is still not found.
    foreign = f"/v1/workspaces/{world.b1.pk}/documents/{document_id}"
    assert outsider.get(foreign).status_code == 404


def test_search_input_is_validated(world):
    api = world.api("owner")
    path = f"/v1/workspaces/{world.a1.pk}/search"
    for body in (
        {"query": ""},
        {"query": "x", "search_type": "psychic"},
        {"query": "x", "limit": 1000},
        {"query": "x", "filters": {"document_ids": ["nope"]}},
        {"query": "x", "weights": {"vector": -1}},
    ):
        response = api.post(path, body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_request"


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_bulk_ingest_of_files_and_an_archive_returns_a_job(world):
    api = world.api("key_all")
    archive = zip_of(
        {"docs/one.md": b"# One\n\nfirst", "two.txt": b"second", "bad.exe": b"MZ"}
    )
    response = multipart(
        api,
        f"/v1/workspaces/{world.a1.pk}/ingest",
        files=[named("bundle.zip", archive), named("three.txt", b"third")],
    )
    job = response.json()
    assert response.status_code == 202
    assert job["counts"]["accepted"] == 3 and job["counts"]["rejected"] == 1
    assert job["status"] == "running"
    assert {f["name"]: f.get("code") for f in job["files"]}[
        "bad.exe"
    ] == "unsupported_type"

    with as_user(world.users["owner"].pk):
        for entry in job["files"]:
            if "document_id" in entry:
                processed(entry["document_id"])
    polled = api.get(f"/v1/workspaces/{world.a1.pk}/ingest/{job['id']}").json()
    assert polled["status"] == "done" and polled["counts"]["ready"] == 3
    outsider = world.api("outsider").get(
        f"/v1/workspaces/{world.a1.pk}/ingest/{job['id']}"
    )
    assert outsider.status_code == 404


@pytest.mark.parametrize(
    ("entries", "code"),
    [
        ({"../escape.txt": b"x"}, "archive_bomb"),
        ({"big.txt": b"0" * 5_000_000}, "archive_bomb"),
    ],
)
def test_hostile_archives_are_refused_whole(world, entries, code):
    response = multipart(
        world.api("owner"),
        f"/v1/workspaces/{world.a1.pk}/ingest",
        files=named("bad.zip", zip_of(entries)),
    )
    job = response.json()
    assert response.status_code == 202
    assert [f.get("code") for f in job["files"]] == [code]
    with as_user(world.users["owner"].pk):
        assert not uploaded(world).exists()


def content_path(world, document_id, workspace=None):  # type: ignore[no-untyped-def]
    workspace = workspace or world.a1
    return f"/v1/workspaces/{workspace.pk}/documents/{document_id}/content"


def put_file(api, path, handle):  # type: ignore[no-untyped-def]
    return api.client.put(
        path,
        data=encode_multipart(BOUNDARY, {"file": handle}),
        content_type=MULTIPART_CONTENT,
    )


def chunk_texts(world, document_id) -> str:  # type: ignore[no-untyped-def]
    with as_user(world.users["owner"].pk):
        return " ".join(
            Chunk.objects.filter(document_id=document_id).values_list(
                "content", flat=True
            )
        )


def test_replacing_content_keeps_the_document_and_swaps_its_chunks(world):
    api = world.api("key_all")
    document_id = upload_text(api, world).json()[0]["document"]["id"]
    with as_user(world.users["owner"].pk):
        processed(document_id)

    replaced = api.call(
        "PUT",
        content_path(world, document_id),
        {
            "text": "# Signing in\n\nUse the single sign-on button.",
            "format": "markdown",
        },
    )
    body = replaced.json()
    # Until the new version is chunked, search still finds the old text.
    before = chunk_texts(world, document_id)
    with as_user(world.users["owner"].pk):
        processed(document_id)

    assert replaced.status_code == 202
    assert body["replaced"] is True
    assert body["document"]["id"] == document_id
    assert body["document"]["title"] == "Password reset"
    assert body["document"]["status"] == "queued"
    assert "Forgot password" in before
    after = chunk_texts(world, document_id)
    assert "single sign-on" in after and "Forgot password" not in after
    found = api.post(
        f"/v1/workspaces/{world.a1.pk}/search",
        {"query": "single sign-on button", "search_type": "text", "limit": 3},
    ).json()
    assert found["hits"][0]["document_id"] == document_id


def test_replacing_with_a_file_and_with_the_same_content(world):
    api = world.api("owner")
    document_id = upload_text(api, world).json()[0]["document"]["id"]

    by_file = put_file(api, content_path(world, document_id), named("v2.md", b"# V2"))
    same = put_file(api, content_path(world, document_id), named("v2.md", b"# V2"))

    assert by_file.status_code == 202 and by_file.json()["replaced"] is True
    assert same.status_code == 200 and same.json()["replaced"] is False
    with as_user(world.users["owner"].pk):
        document = Document.objects.get(pk=document_id)
    assert document.source == "v2.md"
    assert document.metadata["format"] == "markdown"


@pytest.mark.parametrize(
    ("send", "status", "code"),
    [
        ("other", 409, "duplicate_content"),
        ("picture", 415, "type_mismatch"),
        ("empty", 400, "empty_file"),
        ("two", 400, "invalid_request"),
        ("nothing", 400, "invalid_request"),
    ],
)
def test_a_refused_replacement_keeps_what_was_stored(world, send, status, code):
    api = world.api("owner")
    document_id = upload_text(api, world).json()[0]["document"]["id"]
    upload_text(api, world, title="Other", text="other text")
    with as_user(world.users["owner"].pk):
        processed(document_id)
        kept = Document.objects.get(pk=document_id)
    path = content_path(world, document_id)

    response = {
        "other": lambda: api.call("PUT", path, {"text": "other text"}),
        "picture": lambda: put_file(
            api, path, named("p.txt", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
        ),
        "empty": lambda: put_file(api, path, named("e.txt", b"")),
        "two": lambda: api.client.put(
            path,
            data=encode_multipart(
                BOUNDARY, {"file": [named("a.txt", b"a"), named("b.txt", b"b")]}
            ),
            content_type=MULTIPART_CONTENT,
        ),
        "nothing": lambda: api.call("PUT", path, {}),
    }[send]()

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    with as_user(world.users["owner"].pk):
        now = Document.objects.get(pk=document_id)
    assert (now.content_hash, now.status, now.file.name) == (
        kept.content_hash,
        "ready",
        kept.file.name,
    )
    assert "Forgot password" in chunk_texts(world, document_id)


def test_replacing_content_follows_scopes_and_tenants(world):
    document_id = upload_text(world.api("owner"), world).json()[0]["document"]["id"]
    body = {"text": "changed by someone else"}
    with as_workspace(world.b1.pk):
        foreign = Document.objects.create(
            workspace=world.b1, title="Foreign", content="theirs", status="ready"
        )

    assert (
        world.api("key_search")
        .call("PUT", content_path(world, document_id), body)
        .status_code
        == 403
    )
    for response in (
        world.api("outsider").call("PUT", content_path(world, document_id), body),
        world.api("key_b").call("PUT", content_path(world, document_id), body),
        # Another workspace's document named under your own workspace.
        world.api("owner").call("PUT", content_path(world, foreign.pk), body),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    with as_workspace(world.b1.pk):
        assert Document.objects.get(pk=foreign.pk).status == "ready"
    with as_user(world.users["owner"].pk):
        assert Document.objects.get(pk=document_id).status == "queued"
        assert "someone else" not in chunk_texts(world, document_id)
