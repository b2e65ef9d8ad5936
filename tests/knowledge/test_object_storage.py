"""Originals in an S3-compatible bucket: written, read, swept and erased there.

Real boto3 against moto's S3 server on loopback (tests/support/s3.py), which
checks signatures and a policy that denies Atrium's user every object
outside its key prefix: a stray request would fail the test. Objects are
aged by the server's own clock, not by editing anything.
"""

from __future__ import annotations

import io
import logging
import re
import secrets
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage, default_storage, storages
from django.db import transaction
from django.test import Client

from config.celery import app
from knowledge import services, tasks
from knowledge.ingestion import maintenance, storage
from knowledge.ingestion.errors import IngestionError
from knowledge.models import Chunk, Document, DocumentStatus
from tenancy import tasks as tenancy_tasks
from tenancy.context import as_user, as_workspace
from tenancy.data_models import ErasureReceipt
from tests.api.conftest import user_api
from tests.knowledge.conftest import ingest, reload, upload
from tests.support.s3 import PREFIX, S3Server
from tests.support.tenants import Tenant, make_user
from tests.support.worker import Worker, start_worker, stop_worker

QUEUES = ("ingest", "embed")
TEXT = b"# Harbour\n\nThe ferry to the island leaves at seven from pier four."
GRACE = 3
# What the log says of a wrong secret; a HEAD answer has no body, so its
# code is the status alone.
REFUSED = re.compile(
    r"object storage refused to [a-z ]+ '\S+' \((403|SignatureDoesNotMatch)\);"
    r" check the storage credentials"
)


def documents_of(tenant: Tenant) -> str:
    return f"{PREFIX}/documents/{tenant.workspace.pk}/"


def named(name: str, data: bytes) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def purge_queues() -> None:
    with app.connection_for_write() as connection:
        for queue in QUEUES:
            connection.default_channel.queue_purge(queue)


def wait_for(document: Document, status: str, worker: Worker) -> Document:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        current = reload(document)
        if current.status == status:
            return current
        time.sleep(0.1)
    raise AssertionError(f"still {current.status}:\n{worker.log.read_text()[-4000:]}")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_ingests_an_upload_from_the_bucket_and_delete_removes_it(
    s3_storage: S3Server, tenant_a, tenant_b, tmp_path, settings
):
    purge_queues()
    their_file = upload(tenant_b.workspace, "theirs.md", b"# Theirs\n\nB's words.")
    worker_media = tmp_path / "worker-media"
    worker = start_worker(
        tmp_path,
        queues=QUEUES,
        extra_env={**s3_storage.env(), "ATRIUM_MEDIA_ROOT": str(worker_media)},
    )
    api = user_api(tenant_a.owner)
    base = f"/v1/workspaces/{tenant_a.workspace.pk}/documents"
    try:
        response = api.client.post(base, data={"file": named("harbour notes.md", TEXT)})
        assert response.status_code == 201, response.content
        document_id = response.json()[0]["document"]["id"]
        with as_workspace(tenant_a.workspace.pk):
            uploaded = Document.objects.get(pk=document_id)
        document = wait_for(uploaded, DocumentStatus.READY, worker)
    finally:
        stop_worker(worker)

    name = document.file.name
    assert re.fullmatch(rf"documents/{tenant_a.workspace.pk}/[0-9a-f]{{32}}\.md", name)
    assert s3_storage.keys(documents_of(tenant_a)) == [f"{PREFIX}/{name}"]
    with as_workspace(tenant_a.workspace.pk):
        chunks = list(Chunk.objects.filter(document_id=document_id))
    assert [chunk.content for chunk in chunks] == [
        "Harbour\n\nThe ferry to the island leaves at seven from pier four."
    ]
    # Neither this process nor the worker wrote anything to a disk.
    assert not Path(settings.MEDIA_ROOT).exists()
    assert not worker_media.exists()

    deleted = api.delete(f"{base}/{document_id}")

    assert deleted.status_code == 204
    assert s3_storage.keys(documents_of(tenant_a)) == []
    assert s3_storage.keys(documents_of(tenant_b)) == [
        f"{PREFIX}/{their_file.document.file.name}"
    ]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_with_a_wrong_secret_fails_the_document_and_logs_no_credential(
    s3_storage: S3Server, tenant_a, tmp_path
):
    purge_queues()
    wrong = f"wrong-{secrets.token_hex(20)}"
    worker = start_worker(
        tmp_path,
        queues=QUEUES,
        extra_env={**s3_storage.env(secret=wrong), "LOG_LEVEL": "DEBUG"},
    )
    try:
        document = upload(tenant_a.workspace, "harbour.md", TEXT).document
        failed = wait_for(document, DocumentStatus.FAILED, worker)
    finally:
        stop_worker(worker)

    log = worker.log.read_text()
    assert failed.error.startswith("storage_unavailable: ")
    assert REFUSED.search(log)
    for credential in (wrong, s3_storage.secret_access_key, s3_storage.access_key_id):
        assert credential not in log
        assert credential not in failed.error


@pytest.mark.django_db
def test_the_orphan_sweep_reads_ages_from_the_bucket_one_workspace_at_a_time(
    s3_storage: S3Server, tenant_a, tenant_b, settings
):
    kept = upload(tenant_a.workspace, "kept.md", b"# Kept\n\nkept words").document
    old = storage.file_save(workspace_id=tenant_a.workspace.pk, fmt="text", data=b"1")
    theirs = storage.file_save(
        workspace_id=tenant_b.workspace.pk, fmt="text", data=b"2"
    )
    time.sleep(GRACE + 1.5)
    young = storage.file_save(workspace_id=tenant_a.workspace.pk, fmt="text", data=b"3")

    swept = maintenance.files_sweep_orphans(
        workspace_id=tenant_a.workspace.pk, older_than=timedelta(seconds=GRACE)
    )

    assert swept == [old]
    assert s3_storage.keys(documents_of(tenant_a)) == sorted(
        f"{PREFIX}/{name}" for name in (kept.file.name, young)
    )
    assert s3_storage.keys(documents_of(tenant_b)) == [f"{PREFIX}/{theirs}"]

    settings.ATRIUM_ORPHAN_FILE_GRACE_SECONDS = GRACE
    assert tasks.ingest_sweep_orphan_files() == 1
    assert s3_storage.keys(documents_of(tenant_b)) == []
    assert storage.file_read(kept.file.name) == b"# Kept\n\nkept words"
    assert storage.file_read(young) == b"3"


@pytest.mark.django_db
def test_a_missing_object_reads_as_a_missing_file(s3_storage: S3Server, tenant_a):
    document = upload(tenant_a.workspace, "gone.md", b"# Gone\n\nsoon").document
    default_storage.delete(document.file.name)

    result = ingest(document)

    assert result["code"] == "corrupt_file"
    with pytest.raises(FileNotFoundError):
        storage.file_read(document.file.name)
    assert default_storage.exists(document.file.name) is False


@pytest.mark.django_db(transaction=True)
def test_erasing_a_workspace_removes_its_objects_and_nothing_else(
    s3_storage: S3Server, tenant_a, tenant_b
):
    a, b = tenant_a.workspace, tenant_b.workspace
    with transaction.atomic(), as_workspace(a.pk):
        services.document_create(workspace=a, file=io.BytesIO(TEXT), filename="a.md")
    storage.file_save(workspace_id=a.pk, fmt="text", data=b"orphan")
    api = user_api(tenant_a.owner)
    asked = api.post(f"/v1/workspaces/{a.pk}/exports", {})
    tenancy_tasks.export_build.apply(args=(str(a.pk), asked.json()["id"]))
    theirs = upload(b, "b.md", b"# B\n\nB's own words").document
    # Outside Atrium's prefix, where its credentials cannot reach.
    stray = f"documents/{a.pk}/stray.txt"
    s3_storage.put(stray, b"not Atrium's")
    assert len(s3_storage.keys(documents_of(tenant_a))) == 2
    assert len(s3_storage.keys(f"{PREFIX}/exports/{a.pk}/")) == 1

    response = api.delete(f"/v1/workspaces/{a.pk}")
    receipt_id = response.json()["id"]
    tenancy_tasks.erasure_purge.apply(args=(receipt_id, str(tenant_a.owner.pk)))
    with as_user(tenant_a.owner.pk):
        receipt = ErasureReceipt.objects.get(pk=receipt_id)

    assert receipt.status == "completed", receipt.errors
    assert receipt.removed["document_files"]["removed"] == 2
    assert receipt.removed["export_files"]["removed"] == 1
    assert s3_storage.keys(documents_of(tenant_a)) == []
    assert s3_storage.keys(f"{PREFIX}/exports/{a.pk}/") == []
    assert s3_storage.keys(documents_of(tenant_b)) == [f"{PREFIX}/{theirs.file.name}"]
    assert s3_storage.keys(f"documents/{a.pk}/") == [stray]


@pytest.mark.django_db(transaction=True)
def test_an_export_reads_originals_from_the_bucket_and_serves_the_archive(
    s3_storage: S3Server, tenant_a, tenant_b
):
    with transaction.atomic(), as_workspace(tenant_a.workspace.pk):
        document = services.document_create(
            workspace=tenant_a.workspace, file=io.BytesIO(TEXT), filename="a.md"
        ).document
    api = user_api(tenant_a.owner)
    base = f"/v1/workspaces/{tenant_a.workspace.pk}/exports"
    job_id = api.post(base, {}).json()["id"]
    tenancy_tasks.export_build.apply(args=(str(tenant_a.workspace.pk), job_id))

    download = api.get(f"{base}/{job_id}/download")
    outsider = user_api(tenant_b.owner).get(f"{base}/{job_id}/download")

    assert download.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert archive.read(f"files/{document.pk}.md") == TEXT
    assert s3_storage.keys(f"{PREFIX}/exports/{tenant_a.workspace.pk}/") == [
        f"{PREFIX}/exports/{tenant_a.workspace.pk}/{job_id}.zip"
    ]
    assert outsider.status_code == 404


@pytest.mark.django_db
def test_a_wrong_secret_is_refused_clearly_and_named_nowhere(
    settings, s3_server: S3Server, tenant_a, caplog
):
    wrong = f"wrong-{secrets.token_hex(20)}"
    settings.STORAGES = s3_server.storages(secret=wrong)
    caplog.set_level(logging.DEBUG)

    response = user_api(tenant_a.owner).post(
        f"/v1/workspaces/{tenant_a.workspace.pk}/documents",
        {"title": "Harbour", "text": "The ferry leaves at seven.", "format": "text"},
    )
    ready = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert ready.status_code == 503
    assert ready.json()["checks"]["storage"] == "error: StorageError"
    assert REFUSED.search(caplog.text)
    seen = response.content.decode() + ready.content.decode() + caplog.text
    for credential in (wrong, s3_server.secret_access_key, s3_server.access_key_id):
        assert credential not in seen
    with pytest.raises(IngestionError) as refused:
        storage.file_read(f"documents/{tenant_a.workspace.pk}/anything.md")
    assert refused.value.code == "storage_unavailable"


@pytest.mark.django_db
def test_the_bucket_answers_readiness(s3_storage: S3Server):
    ready = Client().get("/readyz")
    assert ready.json()["checks"]["storage"] == "ok"


@pytest.mark.django_db
def test_stored_files_get_no_url_and_the_admin_shows_only_the_name(
    s3_storage: S3Server, tenant_a
):
    document = upload(tenant_a.workspace, "a.md", TEXT).document
    staff = Client()
    staff.force_login(make_user("staff", is_staff=True, is_superuser=True))

    page = staff.get(f"/admin/knowledge/document/{document.pk}/change/")

    with pytest.raises(NotImplementedError):
        default_storage.url(document.file.name)
    assert page.status_code == 200
    assert document.file.name in page.content.decode()
    assert s3_storage.endpoint not in page.content.decode()
    assert "X-Amz" not in page.content.decode()


def test_without_the_bucket_tests_store_on_disk_as_make_run_does(settings):
    assert isinstance(storages["default"], FileSystemStorage)
    assert storages["default"].location == str(settings.MEDIA_ROOT)
