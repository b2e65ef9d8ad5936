"""Workspace exports: what goes in the archive comes back out, and only it."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from agents.models import ChatSession, Message
from knowledge import services as knowledge_services
from tenancy import tasks
from tenancy.context import as_workspace
from tenancy.data_models import ExportJob
from tenancy.exports import exports_expire
from tests.api.conftest import user_api
from tests.knowledge.conftest import ingest
from tests.support.tenants import Tenant, add_agent

pytestmark = pytest.mark.django_db(transaction=True)

FILES = {
    "atlas.md": b"# Atlas\n\nAda Lovelace works at Acme Corp. Acme Corp is in Paris.\n",
    "notes.txt": b"Grace Hopper founded Initech. Initech is based in Berlin.\n",
}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"


def fill(tenant: Tenant) -> dict[str, Any]:
    documents = {}
    for name, data in FILES.items():
        with transaction.atomic(), as_workspace(tenant.workspace.pk):
            document = knowledge_services.document_create(
                workspace=tenant.workspace, file=io.BytesIO(data), filename=name
            ).document
        ingest(document)
        documents[str(document.pk)] = data
    agent = add_agent(tenant.workspace, "helper")
    with as_workspace(tenant.workspace.pk):
        session = ChatSession.objects.create(workspace=tenant.workspace, agent=agent)
        for role, text in (("user", "Where is Acme?"), ("assistant", "In Paris.")):
            Message.objects.create(
                workspace=tenant.workspace, session=session, role=role, content=text
            )
    return {"documents": documents, "agent": agent, "session": session}


def export(tenant: Tenant, **body: Any) -> tuple[dict[str, Any], zipfile.ZipFile]:
    api = user_api(tenant.owner)
    base = f"/v1/workspaces/{tenant.workspace.pk}/exports"
    asked = api.post(base, body)
    assert asked.status_code == 202 and asked.json()["status"] == "pending"
    job_id = asked.json()["id"]
    # The task body, run here as the worker would run it.
    tasks.export_build.apply(args=(str(tenant.workspace.pk), job_id))
    job = api.get(f"{base}/{job_id}").json()
    download = api.get(f"{base}/{job_id}/download")
    assert download.status_code == 200, job
    assert download["Content-Disposition"].startswith("attachment;")
    data = b"".join(download.streaming_content)
    assert hashlib.sha256(data).hexdigest() == job["sha256"]
    assert len(data) == job["size_bytes"]
    return job, zipfile.ZipFile(io.BytesIO(data))


def lines(archive: zipfile.ZipFile, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in archive.read(name).decode().splitlines()]


def test_an_export_holds_the_workspace_and_its_manifest_checks_out(
    graph_on, tenant_a, tenant_b
):
    mine = fill(tenant_a)
    fill(tenant_b)

    job, archive = export(tenant_a)
    manifest = json.loads(archive.read("manifest.json"))

    assert manifest["workspace_id"] == str(tenant_a.workspace.pk)
    for name, entry in manifest["files"].items():
        content = archive.read(name)
        assert hashlib.sha256(content).hexdigest() == entry["sha256"], name
        assert len(content) == entry["bytes"]
    documents = lines(archive, "documents.jsonl")
    assert {d["id"] for d in documents} == set(mine["documents"])
    for document in documents:
        assert archive.read(document["file"]) == mine["documents"][document["id"]]
    chunks = lines(archive, "chunks.jsonl")
    assert {c["document_id"] for c in chunks} == set(mine["documents"])
    assert all("embedding" not in c for c in chunks)
    [session] = lines(archive, "chat_sessions.jsonl")
    assert [m["content"] for m in session["messages"]] == [
        "Where is Acme?",
        "In Paris.",
    ]
    assert [a["slug"] for a in lines(archive, "agents.jsonl")] == ["helper"]
    facts = lines(archive, "graph_facts.jsonl")
    assert facts and all(
        s["document_id"] in mine["documents"] for f in facts for s in f["sources"]
    )
    assert (
        manifest["counts"]
        == job["counts"]
        == {
            "documents": 2,
            "files": 2,
            "chunks": len(chunks),
            "graph_facts": len(facts),
            "agents": 1,
            "chat_sessions": 1,
            "messages": 2,
            "eval_sets": 0,
        }
    )
    # Nothing of the other workspace slipped in.
    everything = b"".join(archive.read(n) for n in archive.namelist())
    assert str(tenant_b.workspace.pk).encode() not in everything


def test_embeddings_are_included_when_asked(tenant_a):
    fill(tenant_a)
    _, archive = export(tenant_a, include_embeddings=True)
    chunks = lines(archive, "chunks.jsonl")
    assert chunks and all(len(c["embedding"]) == 384 for c in chunks)
    assert "graph_facts.jsonl" not in archive.namelist()  # the graph is off


def test_exports_are_not_found_from_another_workspace(tenant_a, tenant_b):
    job, _ = export(tenant_a)
    outsider = user_api(tenant_b.owner)
    a, b = tenant_a.workspace.pk, tenant_b.workspace.pk
    for path in (
        f"/v1/workspaces/{a}/exports",
        f"/v1/workspaces/{a}/exports/{job['id']}",
        f"/v1/workspaces/{a}/exports/{job['id']}/download",
        f"/v1/workspaces/{b}/exports/{job['id']}",
        f"/v1/workspaces/{b}/exports/{job['id']}/download",
    ):
        response = outsider.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert outsider.post(f"/v1/workspaces/{a}/exports", {}).status_code == 404


def test_an_export_expires(tenant_a):
    job, _ = export(tenant_a)
    with as_workspace(tenant_a.workspace.pk):
        ExportJob.objects.filter(pk=job["id"]).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    api = user_api(tenant_a.owner)
    path = f"/v1/workspaces/{tenant_a.workspace.pk}/exports/{job['id']}/download"
    assert api.get(path).json()["error"]["code"] == "export_expired"

    assert exports_expire(workspace_id=tenant_a.workspace.pk) == 1
    with as_workspace(tenant_a.workspace.pk):
        expired = ExportJob.objects.get(pk=job["id"])
    assert expired.status == "expired" and expired.file_name == ""
    assert api.get(path).status_code == 410


def test_a_pending_export_is_not_downloadable(tenant_a):
    api = user_api(tenant_a.owner)
    base = f"/v1/workspaces/{tenant_a.workspace.pk}/exports"
    job = api.post(base, {}).json()
    response = api.get(f"{base}/{job['id']}/download")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "export_not_ready"
