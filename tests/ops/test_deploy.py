"""Production settings: `check --deploy`, HTTPS, security headers, cookies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings

from tests.support import worker as workers

pytestmark = pytest.mark.django_db

# What production needs to start, and nothing from the test environment.
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "Zq8v3JmR1tLx9cWb2nHd7fKp4sYg6aEu0iOj5rTzXyVw_kN-QmPl",
    "DJANGO_ALLOWED_HOSTS": "atrium.example.com",
}


def production_env(**extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **PRODUCTION,
        "DATABASE_URL": workers.test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        **extra,
    }


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings() -> None:
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        production_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_its_secrets() -> None:
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    result = run(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


REQUESTS = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client

def ask(path, **headers):
    response = Client().get(path, HTTP_HOST="atrium.example.com", **headers)
    cookies = {
        name: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"]),
               "samesite": m["samesite"]}
        for name, m in response.cookies.items()
    }
    return {"status": response.status_code, "headers": dict(response.headers),
            "cookies": cookies}

print(json.dumps({
    "https": ask("/accounts/login/", **{"wsgi.url_scheme": "https"}),
    "http": ask("/accounts/login/"),
    "proxied": ask("/accounts/login/", HTTP_X_FORWARDED_PROTO="https"),
    "probe": ask("/healthz"),
    "hashers": settings.PASSWORD_HASHERS,
}))
"""


def production_requests(**extra: str) -> dict[str, Any]:
    result = run(["-c", REQUESTS], production_env(**extra))
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_https_security_headers_and_cookies_in_production() -> None:
    seen = production_requests()

    https = seen["https"]
    assert https["status"] == 200
    headers = https["headers"]
    assert headers["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "X-Request-ID" in headers
    assert https["cookies"]["csrftoken"]["secure"] is True
    assert https["cookies"]["csrftoken"]["samesite"] == "Lax"
    # Plain HTTP is redirected; the proxy's header counts as HTTPS.
    assert seen["http"]["status"] == 301
    assert seen["http"]["headers"]["Location"].startswith("https://atrium.example.com/")
    assert seen["proxied"]["status"] == 200
    assert seen["probe"]["status"] == 200
    assert seen["hashers"][0].endswith("Argon2PasswordHasher")


def test_the_proxy_header_is_trusted_only_when_configured() -> None:
    seen = production_requests(DJANGO_SECURE_PROXY_SSL_HEADER="")
    assert seen["proxied"]["status"] == 301
