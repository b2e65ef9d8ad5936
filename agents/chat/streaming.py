"""An answer as server-sent events, logged for resuming (see ``streams``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from agents.chat.errors import ChatError
from agents.chat.loop import Answer
from agents.chat.services import (
    ChatPlan,
    StoredAnswer,
    chat_answer_store,
    chat_failure_record,
    chat_run,
)
from agents.chat.streams import EventLog, owner_of, sse
from tenancy.context import as_principal

logger = logging.getLogger(__name__)


def answer_summary(
    plan: ChatPlan, answer: Answer, stored: StoredAnswer
) -> dict[str, Any]:
    """What both the plain response and the ``done`` event report."""
    usage = answer.usage
    return {
        "response": answer.text,
        "session_id": str(plan.session.pk),
        "message_id": str(stored.message.pk),
        "agent_id": str(plan.agent.pk),
        "model": answer.model,
        "citations": answer.citations,
        "tools_used": answer.tools_used,
        "tool_calls": answer.tool_calls,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
            "estimated_cost_usd": str(stored.usage_event.estimated_cost_usd),
        },
        "steps": answer.steps,
        "latency_ms": stored.latency_ms,
    }


def answer_events(plan: ChatPlan) -> Iterator[tuple[str, dict[str, Any]]]:
    """session, then tool_call / tool_result / token, citation…, done; or error.

    Runs after the request's transaction ended: each tool call and the final
    write open their own short transaction as the caller's principal.
    """
    yield (
        "session",
        {
            "session_id": str(plan.session.pk),
            "answer_id": str(plan.answer_id),
            "agent_id": str(plan.agent.pk),
        },
    )
    try:
        run = chat_run(plan, streaming=True, db=lambda: as_principal(plan.principal))
        while True:
            try:
                event = next(run)
            except StopIteration as stop:
                answer: Answer = stop.value
                break
            if event.kind != "answer":
                yield event.kind, event.data
        with as_principal(plan.principal):
            stored = chat_answer_store(plan=plan, answer=answer)
        for citation in answer.citations:
            yield "citation", citation
        summary = answer_summary(plan, answer, stored)
        del summary["citations"], summary["tool_calls"]
        yield "done", summary
    except ChatError as error:
        with as_principal(plan.principal):
            chat_failure_record(plan=plan, error=error, despite_rollback=False)
        yield "error", {"code": error.code, "message": error.message, **error.details}
    except Exception:
        logger.exception(
            "streamed answer %s failed in workspace %s",
            plan.answer_id,
            plan.workspace.pk,
        )
        yield "error", {"code": "internal_error", "message": "The answer failed."}


def sse_stream(plan: ChatPlan) -> Iterator[bytes]:
    """The answer as SSE bytes, every event also appended to its log.

    If the client goes away mid-answer, the answer is still finished and
    logged (and stored), so a reconnect with ``Last-Event-ID`` resumes it.
    """
    log = EventLog(plan.workspace.pk, plan.answer_id)
    log.open(owner_of(plan.principal))
    events = answer_events(plan)
    seq = 0

    def emit(kind: str, data: dict[str, Any]) -> bytes:
        nonlocal seq
        seq += 1
        log.append(seq, kind, data)
        return sse(plan.answer_id, seq, kind, data)

    try:
        for kind, data in events:
            yield emit(kind, data)
    except GeneratorExit:
        # Nothing can be sent any more; finish the answer for a reconnect.
        for kind, data in events:
            emit(kind, data)
