"""``/metrics``: Prometheus exposition for a scraper or a staff member."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse

from tenancy.authentication import bearer_token
from tenancy.observability.metrics import exposition


def _allowed(request: HttpRequest) -> bool | None:
    """True to serve, False for a wrong token (401), None to hide (404)."""
    expected = settings.ATRIUM_METRICS_TOKEN
    given = bearer_token(request)
    if given is not None and expected:
        return hmac.compare_digest(given.encode(), expected.encode())
    if given is not None:
        return False
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    return None


def metrics(request: HttpRequest) -> HttpResponse:
    """Every metric of this host's processes, for a scraper with the token.

    A scraper sends ``Authorization: Bearer <ATRIUM_METRICS_TOKEN>``; a
    signed-in staff member may look with their session. A wrong token is
    answered 401; no credential at all, 404, so the endpoint is not
    advertised.
    """
    allowed = _allowed(request)
    if allowed is None:
        raise Http404()
    if not allowed:
        response = HttpResponse("invalid metrics token\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = exposition()
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
