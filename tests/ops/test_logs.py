"""Request log lines: one JSON object per request, every field, no secret."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from accounts.tokens import token_pair_issue
from tenancy import services as tenancy_services
from tenancy.context import as_user
from tenancy.observability.logs import ContextFilter, TextFormatter, redact
from tests.agents.support import make_agent, stock
from tests.agents.test_chat_loop import search_call
from tests.api.conftest import Api
from tests.ops.conftest import CapturedLog
from tests.support.llm_servers import OpenAIServer
from tests.support.tenants import Tenant

pytestmark = pytest.mark.django_db

OPENAI_KEY = "sk-test-ops-7c1d2e3f4a5b6c7d8e9f"
QUESTION = "How do I reset my password?"
DOCUMENT_TEXT = "We email a reset link that works once"
FIELDS = {
    "timestamp",
    "level",
    "logger",
    "event",
    "message",
    "request_id",
    "organization_id",
    "workspace_id",
    "agent_id",
    "session_id",
    "user_id",
    "api_key_prefix",
    "method",
    "route",
    "status",
    "success",
    "latency_ms",
    "tokens",
    "tools_called",
}


@pytest.fixture
def chat_setup(settings, tenant_a: Tenant, openai_server: OpenAIServer):  # type: ignore[no-untyped-def]
    settings.OPENAI_API_KEY = OPENAI_KEY
    settings.OPENAI_BASE_URL = openai_server.api_url
    stock(tenant_a.workspace)
    agent = make_agent(
        tenant_a.workspace, "gpt", model_provider="openai", model_name="gpt-4o-mini"
    )
    with as_user(tenant_a.owner.pk):
        created = tenancy_services.api_key_create(
            workspace=tenant_a.workspace, name="ops", scopes=["chat"]
        )
    return tenant_a, agent, created


def _chat(api: Api, tenant: Tenant, agent, **body):  # type: ignore[no-untyped-def]
    return api.post(
        f"/v1/workspaces/{tenant.workspace.pk}/chat",
        {"agent_id": str(agent.pk), "query": QUESTION, **body},
    )


def _secrets_absent(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def test_a_chat_request_writes_one_line_with_every_field(
    chat_setup, openai_server: OpenAIServer, json_log: CapturedLog
) -> None:  # type: ignore[no-untyped-def]
    tenant, agent, created = chat_setup
    openai_server.reply(calls=[search_call()], input_tokens=50, output_tokens=10)
    openai_server.reply(
        text="Choose Forgot password [S1].", input_tokens=300, output_tokens=20
    )

    response = _chat(Api(created.raw_key), tenant, agent)

    assert response.status_code == 200, response.json()
    [line] = json_log.events("http_request")
    assert set(line) >= FIELDS
    assert line["request_id"] == response["X-Request-ID"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"])
    assert line["level"] == "INFO"
    assert line["organization_id"] == str(tenant.organization.pk)
    assert line["workspace_id"] == str(tenant.workspace.pk)
    assert line["agent_id"] == str(agent.pk)
    assert line["session_id"] == response.json()["session_id"]
    assert line["user_id"] is None
    assert line["api_key_prefix"] == created.api_key.prefix
    assert line["method"] == "POST"
    assert line["route"] == "v1/workspaces/<uuid:workspace_id>/chat"
    assert line["status"] == 200
    assert line["success"] is True
    assert line["latency_ms"] > 0
    assert line["tokens"] == 380
    assert line["tools_called"] == ["hybrid_search"]
    # Every other line of the request carries its id too.
    for other in json_log.lines():
        if other["logger"].startswith(("agents", "knowledge", "billing")):
            assert other["request_id"] == line["request_id"]
    _secrets_absent(json_log.text, created.raw_key, OPENAI_KEY, QUESTION, DOCUMENT_TEXT)


def test_a_streamed_answer_is_logged_when_its_stream_ends(
    chat_setup, openai_server: OpenAIServer, json_log: CapturedLog
) -> None:  # type: ignore[no-untyped-def]
    tenant, agent, created = chat_setup
    openai_server.reply_stream(calls=[search_call()], input_tokens=50, output_tokens=10)
    openai_server.reply_stream(
        text=["Choose ", "Forgot password [S1]."], input_tokens=300, output_tokens=20
    )

    response = _chat(Api(created.raw_key), tenant, agent, stream=True)
    assert json_log.events("http_request") == []  # nothing sent yet
    body = b"".join(response.streaming_content)

    assert b"event: done" in body
    [line] = json_log.events("http_request")
    assert line["request_id"] == response["X-Request-ID"]
    assert line["tokens"] == 380
    assert line["tools_called"] == ["hybrid_search"]
    assert line["agent_id"] == str(agent.pk)
    _secrets_absent(json_log.text, created.raw_key, QUESTION, DOCUMENT_TEXT)


def test_a_sane_request_id_is_kept_and_any_other_replaced(
    tenant_a: Tenant, json_log: CapturedLog
) -> None:
    api = Api(token_pair_issue(user=tenant_a.owner).access_token)
    path = f"/v1/workspaces/{tenant_a.workspace.pk}"

    kept = api.get(path, HTTP_X_REQUEST_ID="lb-7f3a9c2e-0001")
    replaced = api.get(path, HTTP_X_REQUEST_ID="bad id\nwith a forged line")
    missing = api.get(path)

    assert kept["X-Request-ID"] == "lb-7f3a9c2e-0001"
    assert re.fullmatch(r"[0-9a-f]{32}", replaced["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", missing["X-Request-ID"])
    ids = [line["request_id"] for line in json_log.events("http_request")]
    assert ids == [
        kept["X-Request-ID"],
        replaced["X-Request-ID"],
        missing["X-Request-ID"],
    ]
    assert all(
        line["user_id"] == str(tenant_a.owner.pk)
        for line in json_log.lines()
        if line["event"] == "http_request"
    )
    assert "forged" not in json_log.text


def test_no_secret_reaches_the_log_when_requests_carry_them(
    client, tenant_a: Tenant, json_log: CapturedLog
) -> None:  # type: ignore[no-untyped-def]
    password = "correct horse battery"  # the tenant owner's (tests.support)
    tokens = token_pair_issue(user=tenant_a.owner)
    with as_user(tenant_a.owner.pk):
        created = tenancy_services.api_key_create(
            workspace=tenant_a.workspace, name="k"
        )
    forged_key = created.raw_key[:-1] + ("A" if created.raw_key[-1] != "A" else "B")

    logged_in = client.post(
        "/v1/auth/login",
        json.dumps({"email": tenant_a.owner.email, "password": password}),
        content_type="application/json",
    )
    refused = client.post(
        "/v1/auth/login",
        json.dumps({"email": tenant_a.owner.email, "password": password + "x"}),
        content_type="application/json",
    )
    Api(tokens.access_token).get(
        f"/v1/workspaces/{tenant_a.workspace.pk}?token=qs-secret-1234&password=pw-5678"
    )
    Api(forged_key).get(f"/v1/workspaces/{tenant_a.workspace.pk}/documents")
    Api(created.raw_key).get(f"/v1/workspaces/{tenant_a.workspace.pk}/documents")

    assert logged_in.status_code == 200, logged_in.json()
    assert refused.status_code in (400, 401)
    lines = json_log.events("http_request")
    assert len(lines) == 5
    assert [line["status"] for line in lines][1] == refused.status_code
    assert lines[1]["success"] is False
    _secrets_absent(
        json_log.text,
        password,
        tokens.access_token,
        tokens.refresh_token,
        logged_in.json().get("access_token", "-unused-"),
        created.raw_key,
        forged_key,
        "qs-secret-1234",
        "pw-5678",
    )
    # The key is named by its public prefix only.
    assert lines[-1]["api_key_prefix"] == created.api_key.prefix


def test_secrets_in_messages_arguments_and_tracebacks_are_masked(
    json_log: CapturedLog,
) -> None:
    logger = logging.getLogger("atrium.ops.test")
    atrium_key = "atr_live_AbCdEfGh0123456789abcdefghijklmnOPQRST"
    stripe_key = "sk_live_51HabcdefghijklmnopqrstuvwxyZ0123"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl"

    logger.warning("calling with %s and Authorization: Bearer %s", atrium_key, jwt)
    logger.info("stripe %s webhook whsec_0123456789abcdef", stripe_key)
    logger.info("connecting to postgres://atrium:s3cr3t-pass@db:5432/atrium")
    logger.info("form data password=hunter2-hunter2&next=/", extra={"token": "xyz"})
    try:
        raise RuntimeError(f"provider refused api_key={OPENAI_KEY}")
    except RuntimeError:
        logger.exception("provider call failed")

    lines = json_log.lines()
    assert len(lines) == 5
    _secrets_absent(
        json_log.text,
        atrium_key,
        stripe_key,
        jwt,
        "whsec_0123456789abcdef",
        "s3cr3t-pass",
        "hunter2-hunter2",
        OPENAI_KEY,
    )
    # What identifies a key without exposing it stays readable.
    assert "atr_live_AbCdEfGh[redacted]" in lines[0]["message"]
    assert "postgres://atrium:[redacted]@db:5432/atrium" in lines[2]["message"]
    assert "RuntimeError" in lines[4]["exc_info"]


def test_text_lines_for_development_carry_the_request_and_mask_secrets() -> None:
    record = logging.LogRecord(
        "agents.chat",
        logging.INFO,
        __file__,
        1,
        "key %s",
        ("atr_test_ZZZZ9999qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",),
        None,
    )
    record.request_id = "req-12345678"
    record.workspace_id = "w-1"
    ContextFilter().filter(record)

    line = TextFormatter().format(record)

    assert " INFO agents.chat key atr_test_ZZZZ9999[redacted]" in line
    assert "request_id=req-12345678" in line
    assert "workspace_id=w-1" in line
    assert "qqqq" not in line


def test_redact_leaves_json_intact() -> None:
    line = json.dumps({"message": 'say "password": "p4ss\\"word" and token=abc'})
    assert json.loads(redact(line))["message"].count("[redacted]") == 2


@pytest.mark.parametrize(
    ("module", "environment", "expected"),
    [
        ("config.settings.local", {}, "text"),
        ("config.settings.local", {"ATRIUM_LOG_FORMAT": "json"}, "json"),
        ("config.settings.production", {}, "json"),
    ],
)
def test_the_log_format_follows_the_environment(
    module: str, environment: dict[str, str], expected: str
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": module,
        "DJANGO_SECRET_KEY": "x" * 60,
        "DJANGO_ALLOWED_HOSTS": "atrium.example.com",
        "DATABASE_URL": "postgres://atrium_app@127.0.0.1:5432/atrium",
        "REDIS_URL": "redis://127.0.0.1:6379/8",
        **environment,
    }
    script = (
        "import django, logging; django.setup();"
        "print(type(logging.getLogger().handlers[0].formatter).__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert (
        result.stdout.strip()
        == {"text": "TextFormatter", "json": "JsonFormatter"}[expected]
    )
