"""Backups restore into a working Atrium: rows, files, and isolation intact."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from tests.support.tenants import add_document, make_tenant

ROOT = Path(settings.BASE_DIR)
SUPERUSER = "postgres://postgres@127.0.0.1:5432/{name}"


def _run(script: str, *args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / script), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _as_app(url: str, user_id: str | None, sql: str) -> list[tuple[object, ...]]:
    """Run ``sql`` as the runtime role, with ``user_id`` as the tenant context."""
    with psycopg.connect(url) as app, app.transaction():
        if user_id is not None:
            app.execute("SELECT set_config('app.current_user_id', %s, true)", [user_id])
        return app.execute(sql).fetchall()  # type: ignore[arg-type]


@pytest.mark.django_db(transaction=True)
def test_a_backup_restores_rows_files_and_row_level_security(tmp_path: Path) -> None:
    a, b = make_tenant("a"), make_tenant("b")
    add_document(a.workspace, "Password reset", "Reset it from Settings.")
    add_document(a.workspace, "Invoices", "Paid monthly.")
    add_document(b.workspace, "B's secret", "Only B may read this.")
    media = Path(settings.MEDIA_ROOT)
    (media / "documents").mkdir(parents=True)
    (media / "documents" / "original.md").write_bytes(b"# original upload\n")

    source_name = connection.settings_dict["NAME"]
    target_name = f"{source_name}_restore_{uuid.uuid4().hex[:6]}"
    backups = tmp_path / "backups"
    restored_media = tmp_path / "restored-media"
    output = _run(
        "backup.sh",
        str(backups),
        env={
            "DATABASE_BACKUP_URL": SUPERUSER.format(name=source_name),
            "ATRIUM_MEDIA_ROOT": str(media),
        },
    )
    backup_dir = Path(output.strip().split("backup: ")[1])
    assert {path.name for path in backup_dir.iterdir()} == {
        "database.dump",
        "media.tar.gz",
        "SHA256SUMS",
    }

    with psycopg.connect(SUPERUSER.format(name="postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{target_name}"')
    try:
        _run(
            "restore.sh",
            str(backup_dir),
            SUPERUSER.format(name=target_name),
            env={"ATRIUM_MEDIA_ROOT": str(restored_media)},
        )
        app_user = connection.settings_dict["USER"]
        app_url = f"postgres://{app_user}@127.0.0.1:5432/{target_name}"

        # Without a principal the runtime role sees nothing, as before.
        assert _as_app(app_url, None, "SELECT count(*) FROM documents") == [(0,)]
        # Each owner sees exactly their own documents.
        titles_a = _as_app(
            app_url, str(a.owner.pk), "SELECT title FROM documents ORDER BY title"
        )
        assert titles_a == [("Invoices",), ("Password reset",)]
        titles_b = _as_app(app_url, str(b.owner.pk), "SELECT title FROM documents")
        assert titles_b == [("B's secret",)]
        chunks_a = _as_app(app_url, str(a.owner.pk), "SELECT count(*) FROM chunks")
        assert chunks_a == [(2,)]

        with psycopg.connect(SUPERUSER.format(name=target_name)) as check:
            forced = check.execute(
                "SELECT relforcerowsecurity FROM pg_class WHERE relname = 'documents'"
            ).fetchone()
            assert forced == (True,)
            owners = check.execute(
                "SELECT DISTINCT pg_get_userbyid(proowner) FROM pg_proc"
                " WHERE proname LIKE 'atrium_%' AND prosecdef"
            ).fetchall()
            assert owners == [(settings.DATABASE_DEFINER_ROLE,)]
            with psycopg.connect(SUPERUSER.format(name=source_name)) as source:
                policies = "SELECT count(*) FROM pg_policies"
                assert (
                    check.execute(policies).fetchone()
                    == source.execute(policies).fetchone()
                )

        restored = restored_media / "documents" / "original.md"
        assert restored.read_bytes() == b"# original upload\n"
    finally:
        with psycopg.connect(
            SUPERUSER.format(name="postgres"), autocommit=True
        ) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{target_name}" WITH (FORCE)')
