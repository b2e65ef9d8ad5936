"""Shared pieces of the OpenAPI description."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code.")
    message = serializers.CharField(help_text="What went wrong, for people.")
    details = serializers.DictField(
        help_text="Specifics: the fields of a validation error, a limit, …"
    )


class ErrorOut(serializers.Serializer):
    error = ErrorDetail()


def error_response(description: str, code: str, message: str) -> OpenApiResponse:
    """An error answer for the schema, with one example of its body."""
    return OpenApiResponse(
        ErrorOut,
        description=description,
        examples=[
            OpenApiExample(
                code,
                value={"error": {"code": code, "message": message, "details": {}}},
            )
        ],
    )


ERRORS = {
    400: error_response(
        "Invalid input", "invalid_request", "The request is not valid."
    ),
    401: error_response(
        "Not authenticated", "invalid_api_key", "The API key is not valid."
    ),
    403: error_response(
        "Role, scope or plan does not allow it",
        "insufficient_scope",
        "The API key lacks the 'agents:write' scope this needs.",
    ),
    404: error_response("Not found (or not yours)", "not_found", "No such workspace."),
    429: error_response(
        "Rate limit or monthly quota reached (see Retry-After)",
        "rate_limited",
        "Request was throttled. Expected available in 12 seconds.",
    ),
}


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "tenancy.api.authentication.PrincipalAuthentication"
    name = "BearerAuth"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A workspace API key (`atr_live_…` or `atr_test_…`) or a user "
                "access token from `POST /v1/auth/login`."
            ),
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "tenancy.api.authentication.SessionAuthentication"
    name = "SessionCookie"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


class AtriumAutoSchema(AutoSchema):
    """Adds who may call each operation, read from the view's ``access`` map."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        rule = getattr(self.view, "access", {}).get(self.method)
        if operation is None or rule is None:
            return operation
        who = []
        if rule.role is not None:
            who.append(f"users with the **{rule.role}** role or higher")
        if rule.scope == "*":
            who.append("any API key of the workspace")
        elif rule.scope is not None:
            who.append(f"API keys with the `{rule.scope}` scope")
        access = "Who may call: " + ("; ".join(who) or "nobody") + "."
        description = operation.get("description", "")
        operation["description"] = f"{description}\n\n{access}".strip()
        return operation
