"""Reads of agents' conversations. Every query names its workspace."""

from __future__ import annotations

import uuid
from datetime import datetime, time

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from agents.models import ChatSession, EvalRun, EvalSet, Message, ProviderCredential
from agents.providers.credentials import ProviderCredentials
from agents.providers.errors import ProviderNotConfigured
from billing.models import UsageEvent, UsageEventType
from tenancy import vault
from tenancy.context import Principal


def chat_session_list(
    *, workspace_id: uuid.UUID, principal: Principal
) -> QuerySet[ChatSession]:
    """The caller's own sessions in the workspace, most recently used first.

    A session is private to the user or API key that opened it.
    """
    sessions = ChatSession.objects.filter(workspace_id=workspace_id)
    if principal.is_api_key:
        sessions = sessions.filter(api_key_id=principal.api_key_id)
    elif principal.user_id is not None:
        sessions = sessions.filter(user_id=principal.user_id, api_key__isnull=True)
    else:
        sessions = sessions.none()
    return sessions.annotate(message_count=Count("messages")).order_by(
        "-updated_at", "-id"
    )


def chat_session_get(
    *, workspace_id: uuid.UUID, principal: Principal, session_id: uuid.UUID
) -> ChatSession:
    """One of the caller's sessions; ``ChatSession.DoesNotExist`` otherwise."""
    return chat_session_list(workspace_id=workspace_id, principal=principal).get(
        pk=session_id
    )


def chat_message_list(
    *, workspace_id: uuid.UUID, session_id: uuid.UUID
) -> QuerySet[Message]:
    return Message.objects.filter(
        workspace_id=workspace_id, session_id=session_id
    ).order_by("created_at", "id")


def eval_set_list(*, workspace_id: uuid.UUID) -> QuerySet[EvalSet]:
    return EvalSet.objects.filter(workspace_id=workspace_id).order_by(
        "-created_at", "-id"
    )


def eval_run_list(
    *, workspace_id: uuid.UUID, eval_set_id: uuid.UUID
) -> QuerySet[EvalRun]:
    return EvalRun.objects.filter(
        workspace_id=workspace_id, eval_set_id=eval_set_id
    ).order_by("-created_at", "-id")


def chat_tokens_used_today(*, workspace_id: uuid.UUID) -> int:
    """Chat tokens the workspace used since midnight (the server's time zone)."""
    midnight = datetime.combine(
        timezone.localdate(), time.min, tzinfo=timezone.get_current_timezone()
    )
    used = UsageEvent.objects.filter(
        workspace_id=workspace_id,
        event_type=UsageEventType.CHAT,
        created_at__gte=midnight,
    ).aggregate(total=Sum("total_tokens"))["total"]
    return int(used or 0)


def provider_credential_list(
    *, organization_id: uuid.UUID
) -> QuerySet[ProviderCredential]:
    return ProviderCredential.objects.filter(organization_id=organization_id).order_by(
        "provider"
    )


def provider_credentials_for(
    *, organization_id: uuid.UUID, provider: str
) -> ProviderCredentials | None:
    """The organization's own credentials for ``provider``, unsealed, or None.

    Raises ``ProviderNotConfigured`` when the stored key opens with no
    configured encryption key (it must be stored again).
    """
    credential = (
        provider_credential_list(organization_id=organization_id)
        .filter(provider=provider)
        .first()
    )
    if credential is None:
        return None
    api_key = ""
    if credential.api_key_sealed:
        try:
            api_key = vault.unseal(credential.api_key_sealed)
        except (vault.SealBroken, vault.EncryptionUnavailable):
            raise ProviderNotConfigured(
                f"the organization's {provider} key cannot be read; store it again",
                provider=provider,
            ) from None
    return ProviderCredentials(api_key=api_key, base_url=credential.base_url or None)
