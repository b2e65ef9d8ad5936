"""One log line, the metrics and the alert counters of every request."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from tenancy.observability import alerts, metrics
from tenancy.observability.context import WorkRecord, recording, request_id_accept

logger = logging.getLogger("atrium.request")

REQUEST_ID_HEADER = "X-Request-ID"
# Probes and scrapes arrive every few seconds; their lines are DEBUG so they
# do not drown the rest at the default level.
QUIET_ROUTES = frozenset({"healthz", "readyz", "metrics"})
UNMATCHED = "unmatched"


def route_of(request: HttpRequest) -> str:
    """The URL pattern that matched (``v1/workspaces/<uuid:workspace_id>/chat``),
    never the path with its ids; ``unmatched`` when none did."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    return str(match.route or match.view_name or UNMATCHED)


class RequestObservabilityMiddleware:
    """Give every request an id, then log, count and time it once it ends.

    Goes first in ``MIDDLEWARE`` so its clock and its ``X-Request-ID`` cover
    everything else. A streamed response is logged when its last byte has
    been produced, with the tokens and tools its body reported.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        record = WorkRecord(
            request_id=request_id_accept(request.META.get("HTTP_X_REQUEST_ID"))
        )
        with recording(record):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = record.request_id
        if isinstance(response, StreamingHttpResponse):
            response.streaming_content = _logged_stream(
                response.streaming_content, record, request, response.status_code
            )
        else:
            request_finish(record, request, response.status_code)
        return response


def _logged_stream(
    content: Iterable[bytes],
    record: WorkRecord,
    request: HttpRequest,
    status: int,
) -> Iterator[bytes]:
    # The body runs after the middleware returned, possibly in another
    # context (ASGI); each step gets the record back, so what the body
    # annotates lands on this request's line.
    chunks = iter(content)
    try:
        while True:
            with recording(record):
                try:
                    chunk = next(chunks)
                except StopIteration:
                    break
            yield chunk
    finally:
        request_finish(record, request, status)


def _principal_fields(record: WorkRecord, request: HttpRequest) -> None:
    principal = getattr(request, "principal", None)
    if principal is not None:
        if principal.user_id and not record.user_id:
            record.user_id = str(principal.user_id)
        if principal.api_key_prefix and not record.api_key_prefix:
            record.api_key_prefix = principal.api_key_prefix
        if principal.api_key_workspace_id and not record.workspace_id:
            record.workspace_id = str(principal.api_key_workspace_id)
    page = getattr(request, "page", None)  # a dashboard page's resolved scope
    if page is not None:
        if page.organization is not None and not record.organization_id:
            record.organization_id = str(page.organization.pk)
        if page.workspace is not None and not record.workspace_id:
            record.workspace_id = str(page.workspace.pk)


def request_finish(record: WorkRecord, request: HttpRequest, status: int) -> None:
    """Write the request's line and count it; never raises into the response."""
    _principal_fields(record, request)
    route = route_of(request)
    method = request.method or ""
    latency_ms = record.elapsed_ms()
    if route in QUIET_ROUTES:
        level = logging.DEBUG
    elif status >= 500:
        level = logging.ERROR
    else:
        level = logging.INFO
    logger.log(
        level,
        "%s %s %s %.1fms",
        method,
        route,
        status,
        latency_ms,
        extra={
            "event": "http_request",
            **record.tenant_fields(),
            "method": method,
            "route": route,
            "status": status,
            "success": status < 400,
            "latency_ms": latency_ms,
            "tokens": record.tokens,
            "tools_called": list(record.tools_called),
        },
    )

    metrics.HTTP_REQUESTS.labels(route=route, method=method, status=str(status)).inc()
    metrics.HTTP_LATENCY.labels(route=route, method=method).observe(latency_ms / 1000)
    if status >= 500:
        metrics.HTTP_ERRORS.labels(route=route, method=method).inc()
    metrics.tenant_count(
        organization_id=record.organization_id,
        workspace_id=record.workspace_id,
        agent_id=record.agent_id,
        tokens=record.tokens,
    )
    if route not in QUIET_ROUTES:
        principal = getattr(request, "principal", None)
        alerts.request_count(
            route=route,
            failed=status >= 500,
            api_key_id=getattr(principal, "api_key_id", None),
            api_key_workspace_id=getattr(principal, "api_key_workspace_id", None),
        )
