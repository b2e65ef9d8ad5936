"""Evaluation sets: how well an agent finds the documents that answer questions.

A run is queued by the API and scored by a Celery task, which asks the agent
each question of a set through the real chat loop (its model, its tools, its
workspace), without storing sessions, and scores where the expected
documents appear among the sources its tools retrieved:

- **hit rate**: the share of questions with an expected document retrieved;
- **MRR**: the mean of 1 / rank of the first expected document (0 if none);
- **citations**: how many sources the answer cites, and how many of those
  are expected documents.

Two runs of one set compare question by question, so a change of prompt,
tools, chunking or search weights that makes retrieval worse shows before
it ships.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents import tasks
from agents.chat.errors import ChatError
from agents.chat.loop import Answer, LoopLimits, Progress, chat_loop
from agents.chat.services import agent_model_build
from agents.models import Agent, EvalRun, EvalRunStatus, EvalSet
from agents.tools import toolset_build
from billing.models import UsageEventType
from billing.services import usage_record
from tenancy.context import Principal, as_workspace
from tenancy.errors import AtriumError, ConflictError
from tenancy.models import Workspace
from tenancy.services import audit_record

logger = logging.getLogger(__name__)

MAX_QUESTIONS = 100


class EvalAgentInactive(ChatError):
    code = "agent_inactive"


class EvalRunNotFinished(ConflictError):
    code = "eval_run_not_finished"


@transaction.atomic
def eval_set_create(
    *,
    workspace: Workspace,
    name: str,
    questions: list[dict[str, Any]],
    description: str = "",
) -> EvalSet:
    """Store a set of questions with the documents expected to answer them."""
    eval_set = EvalSet.objects.create(
        workspace=workspace,
        name=name,
        description=description,
        questions=[
            {
                "question": q["question"],
                "expected_document_ids": [
                    str(d) for d in q.get("expected_document_ids", [])
                ],
            }
            for q in questions
        ],
    )
    audit_record(
        action="eval_set.created",
        organization_id=workspace.organization_id,
        workspace_id=workspace.pk,
        target=eval_set,
    )
    return eval_set


@transaction.atomic
def eval_set_delete(*, eval_set: EvalSet) -> None:
    audit_record(
        action="eval_set.deleted",
        organization_id=eval_set.workspace.organization_id,
        workspace_id=eval_set.workspace_id,
        target=eval_set,
    )
    eval_set.delete()


def _rank(retrieved: list[dict[str, Any]], expected: set[str]) -> int | None:
    """1-based rank of the first source from an expected document."""
    seen: list[str] = []
    for source in retrieved:
        document = source.get("document_id")
        if document and document not in seen:
            seen.append(document)
            if document in expected:
                return len(seen)
    return None


def score_question(answer: Answer, expected: set[str]) -> dict[str, Any]:
    """One question's scores, ranked by distinct documents in retrieval order."""
    rank = _rank(answer.retrieved, expected)
    cited = [c.get("document_id") for c in answer.citations]
    return {
        "hit": rank is not None,
        "rank": rank,
        "reciprocal_rank": 1 / rank if rank else 0.0,
        "citations": len(cited),
        "expected_citations": sum(1 for d in cited if d in expected),
        "retrieved_document_ids": list(
            dict.fromkeys(
                s["document_id"] for s in answer.retrieved if s.get("document_id")
            )
        ),
    }


def _agent_config(agent: Agent) -> dict[str, Any]:
    return {
        "agent_id": str(agent.pk),
        "name": agent.name,
        "model_provider": agent.model_provider,
        "model_name": agent.model_name,
        "enabled_tools": sorted(agent.enabled_tools or []),
        "temperature": agent.temperature,
        "system_prompt_sha256": hashlib.sha256(
            agent.system_prompt.encode()
        ).hexdigest(),
    }


@transaction.atomic
def eval_run_create(
    *, eval_set: EvalSet, agent: Agent, principal: Principal
) -> EvalRun:
    """Queue a run of the set against the agent; a Celery task scores it.

    Checks what can be checked at once (the agent's workspace, that it is
    active, that its model is configured) so a run that cannot work is
    refused now rather than failing later. Poll the run for its status.
    """
    workspace = eval_set.workspace
    if agent.workspace_id != workspace.pk:
        raise AtriumError("The agent belongs to another workspace.")
    if not agent.is_active:
        raise EvalAgentInactive("The agent is inactive; activate it to evaluate it.")
    agent_model_build(agent=agent, organization_id=workspace.organization_id)

    run = EvalRun.objects.create(
        workspace=workspace,
        eval_set=eval_set,
        agent=agent,
        agent_config=_agent_config(agent),
        status=EvalRunStatus.QUEUED,
        user_id=principal.user_id if not principal.is_api_key else None,
        api_key_id=principal.api_key_id,
        is_test=principal.is_test_key,
    )
    audit_record(
        action="eval_run.queued",
        organization_id=workspace.organization_id,
        workspace_id=workspace.pk,
        target=run,
        metadata={"eval_set_id": str(eval_set.pk), "agent_id": str(agent.pk)},
    )
    workspace_id, run_id = str(workspace.pk), str(run.pk)
    transaction.on_commit(lambda: tasks.eval_run_execute.delay(workspace_id, run_id))
    return run


def _claim(workspace_id: str, run_id: str) -> EvalRun | None:
    """Mark a queued (or orphaned running) run as running; None if finished."""
    with as_workspace(workspace_id):
        run = (
            EvalRun.objects.select_for_update(of=("self",))
            .select_related("eval_set", "agent", "workspace")
            .filter(workspace_id=workspace_id, pk=run_id)
            .first()
        )
        if run is None or run.status in (EvalRunStatus.DONE, EvalRunStatus.FAILED):
            return None
        run.status = EvalRunStatus.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
        return run


def _fail(workspace_id: str, run: EvalRun, code: str, message: str) -> EvalRun:
    with as_workspace(workspace_id):
        run.status = EvalRunStatus.FAILED
        run.error = {"code": code, "message": message}
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
    logger.warning("evaluation %s failed: %s", run.pk, code)
    return run


def eval_run_execute(*, workspace_id: str, run_id: str) -> EvalRun | None:
    """Score a queued run: ask every question through the real chat loop.

    System work inside the run's workspace; no transaction stays open while
    the model thinks (each tool call has its own). Running it again for a
    finished run does nothing; a run left running by a dead worker is
    scored again from the start. The model's tokens are metered as one
    chat usage event of whoever asked for the run.
    """
    run = _claim(workspace_id, run_id)
    if run is None:
        return None
    agent = run.agent
    if agent is None or not agent.is_active:
        return _fail(workspace_id, run, "agent_inactive", "The agent is gone or off.")
    try:
        with as_workspace(workspace_id):
            model = agent_model_build(
                agent=agent, organization_id=run.workspace.organization_id
            )
            toolset = toolset_build(agent=agent)
    except ChatError as error:
        return _fail(workspace_id, run, error.code, error.message)
    limits = LoopLimits(
        max_steps=int(settings.ATRIUM_CHAT_MAX_STEPS),
        token_budget=int(settings.ATRIUM_CHAT_TOKEN_BUDGET),
    )

    started = time.perf_counter()
    results = []
    tools_called: list[str] = []
    input_tokens = output_tokens = 0
    for item in run.eval_set.questions[:MAX_QUESTIONS]:
        expected = set(item.get("expected_document_ids", []))
        progress = Progress()
        loop = chat_loop(
            model=model,
            toolset=toolset,
            system_prompt=agent.system_prompt,
            history=[],
            question=item["question"],
            limits=limits,
            temperature=agent.temperature,
            max_tokens=agent.max_tokens,
            db=lambda: as_workspace(workspace_id),
            streaming=False,
            progress=progress,
        )
        try:
            while True:
                next(loop)
        except StopIteration as stop:
            answer: Answer = stop.value
            scored = score_question(answer, expected)
        except ChatError as error:
            scored = {
                "error": {"code": error.code, "message": error.message},
                "hit": False,
                "rank": None,
                "reciprocal_rank": 0.0,
                "citations": 0,
                "expected_citations": 0,
                "retrieved_document_ids": [],
            }
        input_tokens += progress.usage.input_tokens
        output_tokens += progress.usage.output_tokens
        tools_called += [t for t in progress.tools_called if t not in tools_called]
        results.append(
            {
                "question": item["question"],
                "expected_document_ids": sorted(expected),
                **scored,
            }
        )

    count = len(results) or 1
    with as_workspace(workspace_id):
        run.results = results
        run.hit_rate = sum(r["hit"] for r in results) / count
        run.mrr = sum(r["reciprocal_rank"] for r in results) / count
        run.mean_citations = sum(r["citations"] for r in results) / count
        run.input_tokens, run.output_tokens = input_tokens, output_tokens
        run.status = EvalRunStatus.DONE
        run.finished_at = timezone.now()
        run.save()
        usage_record(
            workspace=run.workspace,
            event_type=UsageEventType.CHAT,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model_name=agent.model_name,
            agent_id=agent.pk,
            user_id=run.user_id,
            api_key_id=run.api_key_id,
            is_test=run.is_test,
            tools_called=tools_called,
            latency_ms=round((time.perf_counter() - started) * 1000),
            success=not any("error" in r for r in results),
        )
    logger.info(
        "evaluation %s of set %s in workspace %s: hit rate %.3f, MRR %.3f",
        run.pk,
        run.eval_set_id,
        workspace_id,
        run.hit_rate,
        run.mrr,
    )
    return run


def eval_run_compare(*, base: EvalRun, head: EvalRun) -> dict[str, Any]:
    """Two runs of one set side by side: summary deltas and each question."""
    if base.eval_set_id != head.eval_set_id:
        raise AtriumError("Only runs of the same evaluation set compare.")
    for run in (base, head):
        if run.status != EvalRunStatus.DONE:
            raise EvalRunNotFinished(
                "Only finished runs compare; poll the run until its status is done.",
                run_id=str(run.pk),
                status=run.status,
            )
    by_question = {r["question"]: r for r in base.results}
    questions = []
    for after in head.results:
        before = by_question.get(after["question"], {})
        questions.append(
            {
                "question": after["question"],
                "base": {k: before.get(k) for k in ("hit", "rank", "citations")},
                "head": {k: after.get(k) for k in ("hit", "rank", "citations")},
                "reciprocal_rank_delta": after["reciprocal_rank"]
                - float(before.get("reciprocal_rank") or 0.0),
                "worse": float(before.get("reciprocal_rank") or 0.0)
                > after["reciprocal_rank"],
            }
        )
    return {
        "eval_set_id": str(head.eval_set_id),
        "base": _summary(base),
        "head": _summary(head),
        "delta": {
            "hit_rate": head.hit_rate - base.hit_rate,
            "mrr": head.mrr - base.mrr,
            "mean_citations": head.mean_citations - base.mean_citations,
        },
        "worse_questions": sum(1 for q in questions if q["worse"]),
        "questions": questions,
    }


def _summary(run: EvalRun) -> dict[str, Any]:
    return {
        "run_id": str(run.pk),
        "agent_config": run.agent_config,
        "hit_rate": run.hit_rate,
        "mrr": run.mrr,
        "mean_citations": run.mean_citations,
        "created_at": run.created_at.isoformat(),
    }
