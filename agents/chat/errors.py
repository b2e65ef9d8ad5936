"""Why a chat could not be answered, each with a stable code and status."""

from __future__ import annotations

from agents.providers import ProviderError
from tenancy.errors import AtriumError


class ChatError(AtriumError):
    """A chat that cannot start or could not finish."""

    status = 409
    code = "chat_failed"


class AgentInactive(ChatError):
    code = "agent_inactive"

    def __init__(self) -> None:
        super().__init__("The agent is inactive; activate it to chat with it.")


class ToolDisabled(ChatError):
    """The agent's model needs a tool the agent does not have enabled."""

    code = "tool_disabled"


class TokenBudgetExhausted(ChatError):
    status = 429
    code = "token_budget_exhausted"


class StepLimitReached(ChatError):
    status = 422
    code = "step_limit_reached"


# Provider failures as API answers: the provider's stable code, a gateway status.
PROVIDER_STATUS = {
    "provider_unavailable": 503,
    "provider_url_refused": 503,
    "provider_rate_limited": 503,
    "provider_timeout": 504,
    "provider_auth_failed": 502,
    "provider_bad_request": 502,
    "provider_error": 502,
}


class ModelFailed(ChatError):
    """The agent's model failed; the message is already free of secrets."""

    def __init__(self, error: ProviderError):
        details: dict[str, object] = {"provider": error.provider}
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            details["retry_after"] = retry_after
        reason = getattr(error, "reason", None)
        if reason is not None:
            details["reason"] = reason
        super().__init__(f"The agent's model failed: {error.message}", **details)
        self.code = error.code
        self.status = PROVIDER_STATUS.get(error.code, 502)
