"""Errors services raise, each with a stable code and an HTTP status.

Services know nothing of HTTP frameworks; the API's exception handler turns
these into ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from typing import Any


class AtriumError(Exception):
    status = 400
    code = "invalid_request"

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details


class NotFoundError(AtriumError):
    status = 404
    code = "not_found"


class ConflictError(AtriumError):
    status = 409
    code = "conflict"


class LastOwnerError(ConflictError):
    code = "last_owner"


class PlanLimitExceeded(AtriumError):
    """Creating one more of something would pass the organization's plan."""

    status = 403
    code = "plan_limit_exceeded"

    def __init__(self, *, limit: str, maximum: int, current: int, plan: str):
        super().__init__(
            f"The {plan} plan allows {maximum} {limit.replace('_', ' ')}; "
            "upgrade the plan or remove some first.",
            limit=limit,
            maximum=maximum,
            current=current,
            plan=plan,
        )


class NotAnOrganizationMember(AtriumError):
    code = "not_an_organization_member"


class AlreadyMember(ConflictError):
    code = "already_a_member"


class InvitationNotFound(NotFoundError):
    code = "invitation_not_found"


class InvitationExpired(AtriumError):
    status = 410
    code = "invitation_expired"


class InvitationRevoked(AtriumError):
    status = 410
    code = "invitation_revoked"


class InvitationAlreadyAccepted(ConflictError):
    code = "invitation_already_accepted"


class InvitationWrongEmail(AtriumError):
    """The invitation is addressed to an email the user has not verified."""

    status = 403
    code = "invitation_wrong_email"


class URLRefused(AtriumError):
    """A URL Atrium will not call (private address, bad scheme); see addresses."""

    code = "url_refused"


class WebhookURLRefused(URLRefused):
    code = "webhook_url_refused"
