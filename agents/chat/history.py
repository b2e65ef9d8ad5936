"""The part of a session's history that is sent with the next question."""

from __future__ import annotations

from collections.abc import Sequence

from agents.models import Message, MessageRole
from agents.providers import AssistantMessage, UserMessage

# No tokenizer is installed for every vendor's models, so lengths are
# estimated at four characters a token (close for English; generous for code).
CHARACTERS_PER_TOKEN = 4


def tokens_estimate(text: str) -> int:
    return len(text) // CHARACTERS_PER_TOKEN + 1


def history_window(
    messages: Sequence[Message], *, budget: int
) -> list[UserMessage | AssistantMessage]:
    """The newest user and assistant turns whose estimated size fits ``budget``.

    Older turns are dropped whole, never cut in the middle; the window always
    starts with a user turn so every vendor accepts it. Tool calls of past
    answers are not replayed: their answers, with citations, carry what they
    found.
    """
    kept: list[UserMessage | AssistantMessage] = []
    used = 0
    for message in reversed(messages):
        if message.role not in (MessageRole.USER, MessageRole.ASSISTANT):
            continue
        cost = tokens_estimate(message.content)
        if used + cost > budget:
            break
        used += cost
        if message.role == MessageRole.USER:
            kept.append(UserMessage(message.content))
        else:
            kept.append(AssistantMessage(content=message.content))
    kept.reverse()
    while kept and not isinstance(kept[0], UserMessage):
        kept.pop(0)
    return kept
