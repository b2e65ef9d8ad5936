"""Agents' part of a workspace export: agents, conversations, evaluation sets.

Their rows carry ``workspace_id`` and go with tenancy's row purge; chat
streams buffered in Redis are named after the workspace and go with its
cache keys, so agents registers no eraser. Registered in
``AgentsConfig.ready`` (see ``tenancy.portability``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Prefetch

from agents.models import Agent, ChatSession, EvalRun, EvalSet, Message
from tenancy.portability import ExportWriter, register_exporter

BATCH = 200


def _agents(writer: ExportWriter) -> Iterator[dict[str, Any]]:
    for agent in Agent.objects.filter(workspace=writer.workspace).order_by(
        "created_at"
    ):
        yield {
            "id": agent.pk,
            "name": agent.name,
            "slug": agent.slug,
            "description": agent.description,
            "system_prompt": agent.system_prompt,
            "model_provider": agent.model_provider,
            "model_name": agent.model_name,
            "temperature": agent.temperature,
            "max_tokens": agent.max_tokens,
            "enabled_tools": agent.enabled_tools,
            "tool_config": agent.tool_config,
            "settings": agent.settings,
            "is_active": agent.is_active,
            "created_at": agent.created_at,
        }


def _sessions(writer: ExportWriter) -> Iterator[dict[str, Any]]:
    sessions = (
        ChatSession.objects.filter(workspace=writer.workspace)
        .order_by("created_at", "id")
        .prefetch_related(
            Prefetch(
                "messages",
                queryset=Message.objects.filter(workspace=writer.workspace).order_by(
                    "created_at", "id"
                ),
            )
        )
    )
    for session in sessions.iterator(chunk_size=BATCH):
        messages = list(session.messages.all())
        writer.count("messages", len(messages))
        yield {
            "id": session.pk,
            "agent_id": session.agent_id,
            "title": session.title,
            "metadata": session.metadata,
            "created_at": session.created_at,
            "messages": [
                {
                    "id": message.pk,
                    "role": message.role,
                    "content": message.content,
                    "tool_calls": message.tool_calls,
                    "citations": message.citations,
                    "input_tokens": message.input_tokens,
                    "output_tokens": message.output_tokens,
                    "model_name": message.model_name,
                    "created_at": message.created_at,
                }
                for message in messages
            ],
        }


def _eval_sets(writer: ExportWriter) -> Iterator[dict[str, Any]]:
    runs = EvalRun.objects.filter(workspace=writer.workspace).order_by("created_at")
    for eval_set in (
        EvalSet.objects.filter(workspace=writer.workspace)
        .order_by("created_at")
        .prefetch_related(Prefetch("runs", queryset=runs))
    ):
        yield {
            "id": eval_set.pk,
            "name": eval_set.name,
            "description": eval_set.description,
            "questions": eval_set.questions,
            "runs": [
                {
                    "id": run.pk,
                    "agent_id": run.agent_id,
                    "agent_config": run.agent_config,
                    "hit_rate": run.hit_rate,
                    "mrr": run.mrr,
                    "results": run.results,
                    "created_at": run.created_at,
                }
                for run in eval_set.runs.all()
            ],
        }


def export_agents(writer: ExportWriter) -> None:
    writer.count("agents", writer.jsonl("agents.jsonl", _agents(writer)))
    writer.count(
        "chat_sessions", writer.jsonl("chat_sessions.jsonl", _sessions(writer))
    )
    writer.count("eval_sets", writer.jsonl("eval_sets.jsonl", _eval_sets(writer)))


def register() -> None:
    register_exporter("agents", export_agents)
