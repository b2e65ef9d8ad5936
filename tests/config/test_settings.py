"""Production settings refuse to start without secrets and pass the deploy check."""

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "atrium.example.com",
    "DATABASE_URL": "postgres://atrium_app@127.0.0.1:5432/atrium",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def manage(*args, **env):
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(settings.BASE_DIR),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("missing", sorted(PRODUCTION_ENV))
def test_production_refuses_to_start_without_each_secret(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = manage("check", **env)
    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr
    # The error names the variable, never a value of another one.
    assert PRODUCTION_ENV["DJANGO_SECRET_KEY"] not in result.stderr


def test_production_passes_the_deploy_check():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr


S3_ENV = {
    "ATRIUM_STORAGE_BACKEND": "s3",
    "ATRIUM_S3_BUCKET": "atrium-originals",
    "ATRIUM_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    "ATRIUM_S3_REGION": "eu-west-1",
    "ATRIUM_S3_ACCESS_KEY_ID": "AKIAEXAMPLEKEYID0001",
    "ATRIUM_S3_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
    "ATRIUM_S3_PREFIX": "/tenant-data/",
    "ATRIUM_S3_ADDRESSING_STYLE": "path",
}
SHOW_STORAGE = (
    "from django.core.files.storage import storages; s = storages['default']; "
    "print(type(s).__name__, s.bucket_name, s.endpoint_url, s.region_name, "
    "repr(s.location), s.addressing_style, s.querystring_auth, s.file_overwrite)"
)


def test_the_environment_selects_the_bucket():
    result = manage(
        "shell", "--no-imports", "-c", SHOW_STORAGE, **PRODUCTION_ENV, **S3_ENV
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "PrivateS3Storage",
        "atrium-originals",
        "http://127.0.0.1:9000",
        "eu-west-1",
        "'tenant-data'",
        "path",
        "False",
        "False",
    ]


def test_the_filesystem_is_the_default():
    show = (
        "from django.core.files.storage import storages; "
        "print(type(storages['default']).__name__)"
    )
    result = manage("shell", "--no-imports", "-c", show, **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["FileSystemStorage"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ATRIUM_S3_BUCKET": ""}, "ATRIUM_STORAGE_BACKEND=s3 needs ATRIUM_S3_BUCKET"),
        (
            {"ATRIUM_STORAGE_BACKEND": "gcs"},
            "ATRIUM_STORAGE_BACKEND must be 'filesystem' or 's3'",
        ),
    ],
)
def test_a_storage_setting_that_cannot_work_stops_the_start(change, message):
    result = manage("check", **PRODUCTION_ENV, **{**S3_ENV, **change})
    assert result.returncode != 0
    assert message in result.stderr
    assert S3_ENV["ATRIUM_S3_SECRET_ACCESS_KEY"] not in result.stderr + result.stdout


def test_production_with_the_bucket_passes_the_deploy_check():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV, **S3_ENV
    )
    assert result.returncode == 0, result.stderr
    assert S3_ENV["ATRIUM_S3_SECRET_ACCESS_KEY"] not in result.stderr + result.stdout
