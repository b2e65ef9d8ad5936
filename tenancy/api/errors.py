"""One error shape for the whole API: ``{"error": {"code", "message", …}}``.

Codes are stable strings clients may branch on; messages are for people.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _as_api_exception(exc: Exception) -> exceptions.APIException | None:
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied()
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    api_exc = _as_api_exception(exc)
    if response is None or api_exc is None:
        return response

    # Nothing a failed request did may be kept: the middleware owns the
    # transaction, and DRF rolls back by itself only under ATOMIC_REQUESTS.
    if transaction.get_connection().in_atomic_block:
        transaction.set_rollback(True)

    if isinstance(api_exc, exceptions.ValidationError):
        body = {
            "code": "invalid_request",
            "message": "The request is not valid; see fields.",
            "fields": response.data,
        }
    else:
        codes = api_exc.get_codes()
        body = {
            "code": codes if isinstance(codes, str) else api_exc.default_code,
            "message": str(api_exc.detail),
        }
    response.data = {"error": body}
    return response
