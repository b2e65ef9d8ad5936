"""One error shape for the whole API: ``{"error": {"code", "message", "details"}}``.

Codes are stable strings clients may branch on; messages are for people;
details carry the specifics (the fields of a validation error, a limit).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import transaction
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tenancy.errors import AtriumError


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def _as_api_exception(exc: Exception) -> exceptions.APIException | None:
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return RequestTooLarge()
    return None


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _rollback() -> None:
    # Nothing a failed request did may be kept: the middleware owns the
    # transaction, and DRF rolls back by itself only under ATOMIC_REQUESTS.
    if transaction.get_connection().in_atomic_block:
        transaction.set_rollback(True)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, AtriumError):
        _rollback()
        return Response(error_body(exc.code, exc.message, exc.details), exc.status)

    api_exc = _as_api_exception(exc)
    if api_exc is None:
        return None
    response = drf_exception_handler(api_exc, context)
    if response is None:
        return None
    _rollback()

    if isinstance(api_exc, exceptions.ValidationError):
        response.data = error_body(
            "invalid_request", "The request is not valid; see details.", response.data
        )
    else:
        codes = api_exc.get_codes()
        code = codes if isinstance(codes, str) else api_exc.default_code
        response.data = error_body(code, str(api_exc.detail))
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """404 for URLs no view matches (a malformed id, too): JSON under /v1/."""
    if request.path.startswith("/v1/"):
        return JsonResponse(error_body("not_found", "No such resource."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)  # type: ignore[arg-type,return-value]


def server_error(request: HttpRequest) -> JsonResponse:
    if request.path.startswith("/v1/"):
        return JsonResponse(
            error_body("internal_error", "Something went wrong on our side."),
            status=500,
        )
    from django.views.defaults import server_error as html_server_error

    return html_server_error(request)  # type: ignore[return-value]
