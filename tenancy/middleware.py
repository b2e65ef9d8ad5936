"""Every request runs in one transaction with its tenant context set first."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from tenancy.authentication import authenticate_request, record_key_use
from tenancy.context import as_principal


class TenantContextMiddleware:
    """Open the request's transaction, authenticate, and set the context in it.

    Django runs middleware outside ``ATOMIC_REQUESTS``, so a context set there
    would be lost (or, set per session, leak into the next request). This
    middleware owns the transaction instead: the principal is set with
    ``set_config(…, true)`` as the first statement, the view runs, and the
    setting ends with the transaction. Server errors roll the work back.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with transaction.atomic():
            result = authenticate_request(request)
            request.principal = result.principal  # type: ignore[attr-defined]
            request.principal_user = result.user  # type: ignore[attr-defined]
            request.auth_error = result.error  # type: ignore[attr-defined]
            with as_principal(result.principal):
                record_key_use(result.principal)
                response = self.get_response(request)
                if response.status_code >= 500:
                    transaction.set_rollback(True)
        return response
