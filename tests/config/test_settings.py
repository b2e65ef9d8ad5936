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
