"""Fixtures of the billing tests: a local Stripe, a webhook endpoint, plans.

The Stripe SDK and dj-stripe talk to ``StripeServer`` (tests/support), with
a test-format secret key made at run time; webhooks are signed with a
secret made per test, as Stripe signs them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import stripe
from django.db import connection
from django.test import Client
from djstripe.models import WebhookEndpoint

from billing.models import UsageEvent
from billing.services import usage_events_flush, usage_record
from tenancy import ratelimit
from tests.api.conftest import world  # noqa: F401  (the personas fixture)
from tests.support.stripe_server import (
    StripeServer,
    sign,
    stripe_id,
    test_secret_key,
    webhook_secret,
)

PRICES = {"starter": "price_starter_test", "pro": "price_pro_test", "enterprise": ""}


@pytest.fixture(autouse=True)
def _empty_usage_buffer(db: None) -> None:
    """Start with this database's usage buffer empty (other keys are per-test)."""
    client = ratelimit.client()
    for key in client.scan_iter(
        f"atrium:usage:buffer:{connection.settings_dict['NAME']}*"
    ):
        client.delete(key)


@pytest.fixture
def record(django_capture_on_commit_callbacks: Any) -> Callable[..., UsageEvent]:
    """``usage_record``, then the commit and flush a request and beat would do."""

    def run(**fields: Any) -> UsageEvent:
        with django_capture_on_commit_callbacks(execute=True):
            event = usage_record(**fields)
        usage_events_flush()
        return event

    return run


@pytest.fixture
def stripe_server(settings: Any) -> Iterator[StripeServer]:
    previous = stripe.api_base
    with StripeServer() as server:
        stripe.api_base = server.base_url
        settings.STRIPE_TEST_SECRET_KEY = test_secret_key()
        settings.STRIPE_LIVE_MODE = False
        settings.ATRIUM_STRIPE_PRICES = PRICES
        for tier in ("starter", "pro"):
            server.price_add(PRICES[tier], amount=2900 if tier == "starter" else 9900)
        try:
            yield server
        finally:
            stripe.api_base = previous


@dataclass
class Webhooks:
    endpoint: WebhookEndpoint
    secret: str
    server: StripeServer

    @property
    def url(self) -> str:
        return f"/stripe/webhook/{self.endpoint.djstripe_uuid}/"

    def post(
        self,
        payload: dict[str, Any] | bytes,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        client: Client | None = None,
    ):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        signature = sign(body, secret or self.secret, timestamp)
        return (client or Client()).post(
            self.url,
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
            **{
                f"HTTP_{k.upper().replace('-', '_')}": v
                for k, v in (headers or {}).items()
            },
        )

    def send(self, event_type: str, obj: dict[str, Any]):
        return self.post(self.server.event(event_type, obj))


@pytest.fixture
def webhooks(stripe_server: StripeServer, db: None) -> Webhooks:
    secret = webhook_secret()
    endpoint = WebhookEndpoint.objects.create(
        id=stripe_id("we"),
        livemode=False,
        url="https://atrium.example/stripe/webhook/",
        enabled_events=["*"],
        status="enabled",
        secret=secret,
        api_version="2026-05-27.dahlia",
        djstripe_tolerance=300,
        created=None,
    )
    return Webhooks(endpoint=endpoint, secret=secret, server=stripe_server)


def now() -> int:
    return int(time.time())
