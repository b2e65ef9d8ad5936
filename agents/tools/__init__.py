"""Tools an agent's model may call, bound to the agent's workspace.

``toolset_build(agent=…)`` gives the enabled tools of an agent, each bound to
the agent's workspace when the set is made. ``Toolset.run(name, arguments)``
never raises: a disabled or unknown tool, arguments that do not fit the
schema, and failures inside a tool all come back as error results.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from agents.models import Agent
from agents.providers import ToolDefinition
from agents.tools.base import DATA_NOTICE, Source, Tool, ToolFailure, ToolResult
from agents.tools.builtin import TOOLS
from tenancy.models import Workspace

logger = logging.getLogger(__name__)

__all__ = [
    "DATA_NOTICE",
    "TOOLS",
    "Source",
    "Tool",
    "ToolFailure",
    "ToolResult",
    "Toolset",
    "toolset_build",
]


@dataclass(frozen=True)
class Toolset:
    """The tools one agent may use, each bound to ``workspace``."""

    workspace: Workspace
    tools: dict[str, Tool]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.tools)

    def definitions(self) -> tuple[ToolDefinition, ...]:
        return tuple(tool.definition() for tool in self.tools.values())

    def run(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        """Run one call; every failure becomes an error result for the model."""
        tool = self.tools.get(name)
        if tool is None:
            known = name in TOOLS
            return ToolResult(
                error=(
                    f"The tool {name!r} is not enabled for this agent."
                    if known
                    else f"There is no tool named {name!r}."
                ),
                error_code="tool_not_enabled" if known else "unknown_tool",
            )
        problem = tool.validate(arguments)
        if problem is not None:
            return ToolResult(
                error=f"Invalid arguments: {problem}", error_code="invalid_arguments"
            )
        try:
            # A savepoint: a failed query inside a tool must not poison the
            # caller's transaction.
            with transaction.atomic():
                return tool.run(self.workspace, arguments)
        except ToolFailure as failure:
            return ToolResult(error=failure.message, error_code=failure.code)
        except Exception:
            # A search or graph backend failing must not end the answer: the
            # model is told, and may answer from what it already has.
            logger.exception("tool %s failed in workspace %s", name, self.workspace.pk)
            return ToolResult(
                error="The tool failed; try again or answer without it.",
                error_code="tool_failed",
            )


def toolset_build(*, agent: Agent) -> Toolset:
    """The agent's enabled tools, bound to the agent's own workspace."""
    enabled = [name for name in agent.enabled_tools or [] if name in TOOLS]
    return Toolset(
        workspace=agent.workspace, tools={name: TOOLS[name] for name in enabled}
    )
