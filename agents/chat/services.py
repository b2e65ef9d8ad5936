"""Writes of chat: start an answer (session, question) and store it (answer, usage)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Generator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.chat.errors import (
    AgentInactive,
    ChatError,
    ModelFailed,
    TokenBudgetExhausted,
    ToolDisabled,
)
from agents.chat.history import history_window
from agents.chat.loop import Answer, ChatEvent, LoopLimits, Progress, chat_loop
from agents.models import Agent, ChatSession, Message, MessageRole, ModelProvider
from agents.providers import ChatModel, ProviderError, chat_model_for_agent
from agents.providers.extractive import SEARCH_PREFERENCE
from agents.selectors import (
    chat_session_list,
    chat_tokens_used_today,
    provider_credentials_for,
)
from agents.tools import Toolset, toolset_build
from billing.models import UsageEvent, UsageEventType
from billing.services import usage_record
from tenancy.context import Principal
from tenancy.errors import NotFoundError
from tenancy.models import Workspace
from tenancy.observability import annotate
from tenancy.services import audit_record

logger = logging.getLogger(__name__)

# Messages of a session read to build its history (the token budget then
# decides how many of them are sent).
HISTORY_READ = 200


@dataclass
class ChatPlan:
    """Everything an answer needs, prepared in the request's transaction."""

    workspace: Workspace
    agent: Agent
    session: ChatSession
    principal: Principal
    question: str
    toolset: Toolset
    model: ChatModel
    history: list[Any]
    limits: LoopLimits
    answer_id: uuid.UUID = field(default_factory=uuid.uuid4)
    started: float = field(default_factory=time.perf_counter)
    created_session: bool = False
    progress: Progress = field(default_factory=Progress)

    def elapsed_ms(self) -> int:
        return round((time.perf_counter() - self.started) * 1000)


def _setting(workspace: Workspace, name: str, default: int) -> int:
    """A per-workspace override from ``Workspace.settings``, else the default."""
    value = (workspace.settings or {}).get(name)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return int(default)


def _limits(workspace: Workspace) -> LoopLimits:
    per_answer = _setting(
        workspace, "chat_token_budget", settings.ATRIUM_CHAT_TOKEN_BUDGET
    )
    daily = _setting(
        workspace, "chat_daily_token_budget", settings.ATRIUM_CHAT_DAILY_TOKEN_BUDGET
    )
    if daily:
        left = daily - chat_tokens_used_today(workspace_id=workspace.pk)
        if left <= 0:
            raise TokenBudgetExhausted(
                "The workspace has used its chat tokens for today.",
                budget=daily,
                period="day",
            )
        per_answer = min(per_answer, left)
    return LoopLimits(
        max_steps=_setting(workspace, "chat_max_steps", settings.ATRIUM_CHAT_MAX_STEPS)
        or 1,
        token_budget=per_answer,
    )


def agent_model_build(*, agent: Agent, organization_id: uuid.UUID) -> ChatModel:
    """The agent's chat model, with the organization's own key if it stored one.

    Without one, the platform's key from settings applies. Raises
    ``ModelFailed`` when neither exists or the stored key cannot be read.
    """
    try:
        credentials = None
        if agent.model_provider != ModelProvider.EXTRACTIVE:
            credentials = provider_credentials_for(
                organization_id=organization_id, provider=agent.model_provider
            )
        return chat_model_for_agent(agent, credentials=credentials)
    except ProviderError as error:
        raise ModelFailed(error) from None


def chat_prepare(
    *,
    workspace: Workspace,
    principal: Principal,
    agent_id: uuid.UUID,
    query: str,
    session_id: uuid.UUID | None = None,
) -> ChatPlan:
    """Check that the agent may answer, then store the question in its session.

    A session belongs to one workspace, one agent and the user or key that
    opened it; any other session id is answered as not found.
    """
    agent = (
        Agent.objects.select_related("workspace")
        .filter(workspace=workspace, pk=agent_id)
        .first()
    )
    if agent is None:
        raise NotFoundError("No such agent.")
    if not agent.is_active:
        raise AgentInactive()
    toolset = toolset_build(agent=agent)
    if agent.model_provider == ModelProvider.EXTRACTIVE and not any(
        name in toolset.names for name in SEARCH_PREFERENCE
    ):
        raise ToolDisabled(
            "This agent answers extractively and needs a search tool; enable "
            "hybrid_search, vector_search, text_search or graph_search.",
            tools=list(SEARCH_PREFERENCE),
        )
    model = agent_model_build(agent=agent, organization_id=workspace.organization_id)
    limits = _limits(workspace)

    with transaction.atomic():
        created = session_id is None
        session: ChatSession | None
        if session_id is None:
            session = ChatSession.objects.create(
                workspace=workspace,
                agent=agent,
                user_id=principal.user_id if not principal.is_api_key else None,
                api_key_id=principal.api_key_id,
                title=" ".join(query.split())[:200],
            )
        else:
            session = (
                chat_session_list(workspace_id=workspace.pk, principal=principal)
                .filter(pk=session_id, agent=agent)
                .first()
            )
            if session is None:
                raise NotFoundError("No such session.")
        past = list(
            Message.objects.filter(workspace=workspace, session=session).order_by(
                "-created_at", "-id"
            )[:HISTORY_READ]
        )
        past.reverse()
        history = history_window(past, budget=settings.ATRIUM_CHAT_HISTORY_TOKENS)
        Message.objects.create(
            workspace=workspace, session=session, role=MessageRole.USER, content=query
        )
    annotate(agent_id=agent.pk, session_id=session.pk)
    return ChatPlan(
        workspace=workspace,
        agent=agent,
        session=session,
        principal=principal,
        question=query,
        toolset=toolset,
        model=model,
        history=history,
        limits=limits,
        created_session=created,
    )


def chat_run(
    plan: ChatPlan,
    *,
    streaming: bool,
    db: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> Generator[ChatEvent, None, Answer]:
    """The plan's chat loop; see ``agents.chat.loop.chat_loop``."""
    agent = plan.agent
    return (
        yield from chat_loop(
            model=plan.model,
            toolset=plan.toolset,
            system_prompt=agent.system_prompt,
            history=plan.history,
            question=plan.question,
            limits=plan.limits,
            temperature=agent.temperature,
            max_tokens=agent.max_tokens,
            db=db,
            streaming=streaming,
            progress=plan.progress,
        )
    )


def _principal_ids(principal: Principal) -> dict[str, Any]:
    return {
        "user_id": principal.user_id if not principal.is_api_key else None,
        "api_key_id": principal.api_key_id,
        "is_test": principal.is_test_key,
    }


def chat_failure_record(
    *, plan: ChatPlan, error: ChatError, despite_rollback: bool
) -> UsageEvent:
    """Meter an answer that failed after it started: its tokens were spent.

    ``despite_rollback`` for a caller whose transaction is about to roll back
    (a plain answer's request): the event is buffered at once instead of on
    commit. The error code says why it failed; the answer itself is not
    stored.
    """
    progress = plan.progress
    event = usage_record(
        workspace=plan.workspace,
        event_type=UsageEventType.CHAT,
        input_tokens=progress.usage.input_tokens,
        output_tokens=progress.usage.output_tokens,
        model_name=plan.agent.model_name,
        agent_id=plan.agent.pk,
        session_id=plan.session.pk,
        tools_called=progress.tools_called,
        latency_ms=plan.elapsed_ms(),
        success=False,
        error_code=error.code,
        despite_rollback=despite_rollback,
        **_principal_ids(plan.principal),
    )
    logger.info(
        "chat failed in workspace %s by agent %s: %s after %s steps, %s tokens",
        plan.workspace.pk,
        plan.agent.pk,
        error.code,
        progress.steps,
        progress.usage.input_tokens + progress.usage.output_tokens,
    )
    return event


@dataclass(frozen=True)
class StoredAnswer:
    message: Message
    usage_event: UsageEvent
    latency_ms: int


@transaction.atomic
def chat_answer_store(*, plan: ChatPlan, answer: Answer) -> StoredAnswer:
    """Store the answer with its tool calls and citations, and meter it."""
    latency_ms = plan.elapsed_ms()
    event = usage_record(
        workspace=plan.workspace,
        event_type=UsageEventType.CHAT,
        input_tokens=answer.usage.input_tokens,
        output_tokens=answer.usage.output_tokens,
        # The model asked for is the one the price table knows; vendors
        # answer with dated or proxy-specific names.
        model_name=plan.agent.model_name,
        agent_id=plan.agent.pk,
        session_id=plan.session.pk,
        tools_called=[call["name"] for call in answer.tool_calls],
        latency_ms=latency_ms,
        **_principal_ids(plan.principal),
    )
    message = Message.objects.create(
        id=plan.answer_id,
        workspace=plan.workspace,
        session=plan.session,
        role=MessageRole.ASSISTANT,
        content=answer.text,
        tool_calls=answer.tool_calls,
        citations=answer.citations,
        input_tokens=answer.usage.input_tokens,
        output_tokens=answer.usage.output_tokens,
        model_name=answer.model[:100],
        metadata={
            "latency_ms": latency_ms,
            "steps": answer.steps,
            "tools_used": answer.tools_used,
            "usage_event_id": str(event.pk),
            "estimated_cost_usd": str(event.estimated_cost_usd),
        },
    )
    ChatSession.objects.filter(pk=plan.session.pk).update(updated_at=timezone.now())
    annotate(
        tokens=answer.usage.input_tokens + answer.usage.output_tokens,
        tools=answer.tools_used,
    )
    logger.info(
        "chat answered in workspace %s by agent %s: %s steps, %s tokens, %s ms",
        plan.workspace.pk,
        plan.agent.pk,
        answer.steps,
        answer.usage.input_tokens + answer.usage.output_tokens,
        latency_ms,
    )
    return StoredAnswer(message=message, usage_event=event, latency_ms=latency_ms)


def chat_respond(
    *,
    workspace: Workspace,
    principal: Principal,
    agent_id: uuid.UUID,
    query: str,
    session_id: uuid.UUID | None = None,
) -> tuple[ChatPlan, Answer, StoredAnswer]:
    """Answer one question without streaming, in the caller's transaction.

    An error rolls the caller's transaction back: nothing of a failed answer
    is kept but its usage event, which is buffered regardless.
    """
    plan = chat_prepare(
        workspace=workspace,
        principal=principal,
        agent_id=agent_id,
        query=query,
        session_id=session_id,
    )
    run = chat_run(plan, streaming=False)
    while True:
        try:
            next(run)
        except StopIteration as stop:
            answer: Answer = stop.value
            break
        except ChatError as error:
            chat_failure_record(plan=plan, error=error, despite_rollback=True)
            raise
    return plan, answer, chat_answer_store(plan=plan, answer=answer)


@transaction.atomic
def chat_session_delete(*, session: ChatSession) -> None:
    """Delete a session and its messages (usage events stay, by id)."""
    audit_record(
        action="chat_session.deleted",
        organization_id=session.workspace.organization_id,
        workspace_id=session.workspace_id,
        target=session,
    )
    session.delete()
