"""A local HTTP server that speaks the part of Stripe's API Atrium uses.

It runs in a thread on 127.0.0.1 with a random port and keeps its objects in
memory, so the official ``stripe`` SDK (and dj-stripe, which re-reads
subscriptions, invoices and customers while processing webhooks) can be
driven offline. Tests script the state (``subscription_add``, ``invoice_add``,
…), build events from it and sign them like Stripe does.

    with StripeServer() as server:
        stripe.api_base = server.base_url
        server.customer_add("cus_1")
        sub = server.subscription_add("cus_1", price="price_pro")
        body, header = server.signed_event("customer.subscription.updated", sub,
                                           secret=webhook_secret)

Served: customers (create, retrieve), checkout and billing-portal sessions
(create), subscriptions (list by customer, retrieve), invoices (retrieve,
list, lines), prices, products and payment methods (retrieve, list). Anything
else answers 404 in Stripe's error shape and is listed in ``unknown``, so a
missing route fails loudly.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_ids = itertools.count(1)


def stripe_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}{next(_ids):04d}"


def test_secret_key() -> str:
    """A key of Stripe's test format, made at run time (never a real key)."""
    return "sk_" + "test_" + secrets.token_hex(16)


def webhook_secret() -> str:
    return "whsec_" + secrets.token_hex(16)


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload``, as Stripe computes it."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


def _list(data: list[dict[str, Any]], url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": False, "url": url}


class StripeServer:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {
            "customers": {},
            "subscriptions": {},
            "invoices": {},
            "prices": {},
            "products": {},
            "checkout_sessions": {},
            "portal_sessions": {},
        }
        self.account = {
            "id": "acct_" + secrets.token_hex(8),
            "object": "account",
            "type": "standard",
            "country": "US",
            "default_currency": "usd",
            "email": "owner@example.com",
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
            "business_profile": {"name": "Atrium test account"},
            "settings": {"dashboard": {"display_name": "Atrium test"}},
            "capabilities": {},
            "metadata": {},
            "created": int(time.time()),
        }
        self.requests: list[Recorded] = []
        self.unknown: list[str] = []
        self._idempotent: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=lambda: self._httpd.serve_forever(poll_interval=0.02), daemon=True
        )

    # --- lifecycle ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> StripeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # --- scripted state ----------------------------------------------------

    def price_add(self, price_id: str, *, amount: int = 2900) -> dict[str, Any]:
        product = {
            "id": f"prod_{price_id}",
            "object": "product",
            "name": price_id,
            "active": True,
            "created": int(time.time()),
            "livemode": False,
            "metadata": {},
            "type": "service",
        }
        price = {
            "id": price_id,
            "object": "price",
            "active": True,
            "currency": "usd",
            "unit_amount": amount,
            "unit_amount_decimal": str(amount),
            "recurring": {"interval": "month", "interval_count": 1},
            "type": "recurring",
            "billing_scheme": "per_unit",
            "product": product["id"],
            "created": int(time.time()),
            "livemode": False,
            "metadata": {},
        }
        with self._lock:
            self.objects["products"][product["id"]] = product
            self.objects["prices"][price_id] = price
        return price

    def customer_add(self, customer_id: str | None = None, **fields: Any) -> dict:
        customer = {
            "id": customer_id or stripe_id("cus"),
            "object": "customer",
            "created": int(time.time()),
            "livemode": False,
            "email": fields.pop("email", "billing@example.com"),
            "name": fields.pop("name", "Customer"),
            "metadata": fields.pop("metadata", {}),
            "currency": "usd",
            "balance": 0,
            "delinquent": False,
            "invoice_settings": {"default_payment_method": None},
            **fields,
        }
        with self._lock:
            self.objects["customers"][customer["id"]] = customer
        return customer

    def subscription_add(
        self,
        customer: str,
        *,
        price: str,
        status: str = "active",
        period_start: int | None = None,
        period_end: int | None = None,
        created: int | None = None,
    ) -> dict[str, Any]:
        if price not in self.objects["prices"]:
            self.price_add(price)
        start = period_start or int(time.time()) - 60
        end = period_end or start + 30 * 24 * 3600
        sub_id = stripe_id("sub")
        item = {
            "id": stripe_id("si"),
            "object": "subscription_item",
            "created": start,
            "price": copy.deepcopy(self.objects["prices"][price]),
            "quantity": 1,
            "subscription": sub_id,
            "current_period_start": start,
            "current_period_end": end,
            "metadata": {},
        }
        subscription = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": status,
            "created": created or start,
            "start_date": start,
            "current_period_start": start,
            "current_period_end": end,
            "billing_cycle_anchor": start,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "ended_at": None,
            "trial_end": None,
            "trial_start": None,
            "collection_method": "charge_automatically",
            "currency": "usd",
            "livemode": False,
            "metadata": {},
            "items": _list([item], f"/v1/subscription_items?subscription={sub_id}"),
        }
        with self._lock:
            self.objects["subscriptions"][sub_id] = subscription
        return copy.deepcopy(subscription)

    def subscription_set(self, subscription_id: str, **fields: Any) -> dict:
        """Change a subscription (status, price, period) as Stripe would."""
        with self._lock:
            sub = self.objects["subscriptions"][subscription_id]
            item = sub["items"]["data"][0]
            if "price" in fields:
                price = fields.pop("price")
                if price not in self.objects["prices"]:
                    self.price_add(price)
                item["price"] = copy.deepcopy(self.objects["prices"][price])
            for key in ("current_period_start", "current_period_end"):
                if key in fields:
                    item[key] = fields[key]
            if fields.get("status") == "canceled":
                sub["canceled_at"] = sub["ended_at"] = int(time.time())
            sub.update(fields)
            return copy.deepcopy(sub)

    def invoice_add(
        self,
        customer: str,
        subscription: str,
        *,
        status: str = "paid",
        period_start: int | None = None,
        amount: int = 2900,
    ) -> dict[str, Any]:
        sub = self.objects["subscriptions"][subscription]
        start = period_start or sub["items"]["data"][0]["current_period_start"]
        end = start + 30 * 24 * 3600
        invoice_id = stripe_id("in")
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "customer": customer,
            "subscription": subscription,
            "status": status,
            "paid": status == "paid",
            "number": f"ATR-{next(_ids):04d}",
            "currency": "usd",
            "amount_due": amount,
            "amount_paid": amount if status == "paid" else 0,
            "amount_remaining": 0 if status == "paid" else amount,
            "subtotal": amount,
            "total": amount,
            "created": start,
            "period_start": start - 30 * 24 * 3600,
            "period_end": start,
            "hosted_invoice_url": f"https://invoices.example/{invoice_id}",
            "livemode": False,
            "metadata": {},
            "billing_reason": "subscription_cycle",
            "collection_method": "charge_automatically",
            "charge": None,
            "payment_intent": None,
            "default_payment_method": None,
            "discounts": [],
            "lines": _list(
                [
                    {
                        "id": stripe_id("il"),
                        "object": "line_item",
                        "amount": amount,
                        "currency": "usd",
                        "period": {"start": start, "end": end},
                        "type": "subscription",
                        "subscription": subscription,
                        "discounts": [],
                        "metadata": {},
                        "livemode": False,
                    }
                ],
                f"/v1/invoices/{invoice_id}/lines",
            ),
        }
        with self._lock:
            self.objects["invoices"][invoice_id] = invoice
        return copy.deepcopy(invoice)

    def checkout_complete(self, session_id: str, subscription_id: str) -> dict:
        """The customer paid in Checkout: the session now names its subscription."""
        with self._lock:
            session = self.objects["checkout_sessions"][session_id]
            session.update(
                status="complete", payment_status="paid", subscription=subscription_id
            )
            return copy.deepcopy(session)

    def event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": stripe_id("evt"),
            "object": "event",
            "api_version": "2026-05-27.dahlia",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
            "data": {"object": copy.deepcopy(obj)},
        }

    # --- HTTP --------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Request-Id", stripe_id("req"))
                self.end_headers()
                self.wfile.write(raw)

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                params = dict(parse_qsl(parts.query)) | dict(parse_qsl(body))
                with server._lock:
                    server.requests.append(
                        Recorded(method, parts.path, params, dict(self.headers))
                    )
                status, answer = server.route(
                    method, parts.path, params, self.headers.get("Idempotency-Key")
                )
                self._answer(status, answer)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        return Handler

    def _missing(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        self.unknown.append(f"{method} {path}")
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": f"No such resource: {path}",
            }
        }

    def route(
        self, method: str, path: str, params: dict[str, str], idem: str | None
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if method == "POST" and idem and idem in self._idempotent:
                return 200, copy.deepcopy(self._idempotent[idem])
            answer = self._route(method, path.rstrip("/"), params)
            if answer is None:
                return self._missing(method, path)
            if method == "POST" and idem:
                self._idempotent[idem] = copy.deepcopy(answer)
            return 200, copy.deepcopy(answer)

    def _route(
        self, method: str, path: str, params: dict[str, str]
    ) -> dict[str, Any] | None:
        segments = path.split("/")[2:]  # after "/v1"
        kind = segments[0] if segments else ""
        if kind == "checkout" and segments[1:2] == ["sessions"] and method == "POST":
            session = {
                "id": stripe_id("cs_test"),
                "object": "checkout.session",
                "mode": params.get("mode"),
                "customer": params.get("customer"),
                "url": "https://checkout.stripe.test/pay",
                "client_reference_id": params.get("client_reference_id"),
                "status": "open",
                "payment_status": "unpaid",
                "subscription": None,
                "livemode": False,
                "created": int(time.time()),
                "metadata": {},
            }
            self.objects["checkout_sessions"][session["id"]] = session
            return session
        if kind == "checkout" and len(segments) == 3 and method == "GET":
            return self.objects["checkout_sessions"].get(segments[2])
        if kind == "billing_portal" and method == "POST":
            session = {
                "id": stripe_id("bps"),
                "object": "billing_portal.session",
                "customer": params.get("customer"),
                "url": "https://billing.stripe.test/session",
                "return_url": params.get("return_url"),
            }
            self.objects["portal_sessions"][session["id"]] = session
            return session
        if kind == "customers" and method == "POST" and len(segments) == 1:
            metadata = {
                k[len("metadata[") : -1]: v
                for k, v in params.items()
                if k.startswith("metadata[")
            }
            return self.customer_add(
                email=params.get("email"), name=params.get("name"), metadata=metadata
            )
        if kind == "customers" and len(segments) == 3 and method == "GET":
            # Sub-lists of a customer (payment methods, sources, tax ids): empty.
            return _list([], path)
        if kind == "payment_methods" and len(segments) == 1 and method == "GET":
            return _list([], path)
        if kind == "account" and method == "GET":
            return self.account
        store = self.objects.get(kind)
        if store is None:
            return None
        if len(segments) == 1 and method == "GET":
            found = [
                obj
                for obj in store.values()
                if all(
                    obj.get(field) == params[field]
                    for field in ("customer", "subscription")
                    if field in params
                )
                and params.get("status", "all") in ("all", obj.get("status"))
            ]
            return _list(found, path)
        if len(segments) == 2 and method == "GET":
            return store.get(segments[1])
        if len(segments) == 3 and segments[2] == "lines" and method == "GET":
            invoice = store.get(segments[1])
            return invoice["lines"] if invoice else None
        if len(segments) == 3 and method == "GET" and segments[1] in store:
            # Sub-lists Atrium never fills (a product's features, …): empty.
            return _list([], path)
        return None
