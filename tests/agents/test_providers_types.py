"""Tool-call argument parsing and stream assembly."""

from __future__ import annotations

from agents.providers import (
    StopReason,
    StreamAssembler,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    UsageUpdate,
)


def test_tool_call_arguments_are_parsed() -> None:
    call = ToolCall.from_json(id="1", name="t", raw_arguments='{"query": "x"}')

    assert call.arguments == {"query": "x"}
    assert call.parse_error is None


def test_empty_arguments_mean_no_arguments() -> None:
    assert ToolCall.from_json(id="1", name="t", raw_arguments=" ").arguments == {}


def test_arguments_that_are_not_an_object_are_flagged() -> None:
    broken = ToolCall.from_json(id="1", name="t", raw_arguments='{"query": ')
    listed = ToolCall.from_json(id="1", name="t", raw_arguments="[1, 2]")

    assert broken.arguments == {} and "not valid JSON" in (broken.parse_error or "")
    assert listed.arguments == {} and "not a JSON object" in (listed.parse_error or "")


def test_assembler_orders_calls_by_index_and_keeps_the_last_usage() -> None:
    second = ToolCall(id="b", name="t", arguments={"n": 2})
    first = ToolCall(id="a", name="t", arguments={"n": 1})
    assembler = StreamAssembler(model="m")
    for event in [
        UsageUpdate(Usage(10, 1)),
        TextDelta("Hel"),
        ToolCallStart(index=0, id="a", name="t"),
        ToolCallDelta(index=0, arguments='{"n": 1}'),
        TextDelta("lo"),
        ToolCallEnd(index=1, call=second),
        ToolCallEnd(index=0, call=first),
        UsageUpdate(Usage(10, 7)),
    ]:
        assembler.add(event)

    result = assembler.result(StopReason.TOOL_USE)

    assert result.text == "Hello"
    assert result.tool_calls == (first, second)
    assert result.usage == Usage(10, 7)
    assert result.model == "m"
