"""Local HTTP servers that speak the OpenAI and Anthropic chat wire protocols.

Each server runs in a thread on 127.0.0.1 with a random port. A test queues
the answers it wants (JSON bodies, server-sent event streams, errors, stalls)
and reads back every request the server received, so the real SDKs can be
driven through completions, tool calls, streams and failures offline.

    with OpenAIServer() as server:
        server.reply_text("Hello", input_tokens=5, output_tokens=1)
        ...  # point the adapter at server.base_url
        assert server.requests[0].json["model"] == "gpt-test"

When the queue is empty the server answers 500 with a body that says so,
which makes a missing script fail loudly rather than hang.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Canned:
    """One scripted answer.

    `body` is sent as is (bytes) or as JSON; `events` are sent one at a time
    as server-sent events, each already formatted (`"data: …\\n\\n"`).
    `stall_after` stops sending after that many events (or before the body,
    for 0) and holds the connection open until the server stops, to make
    the client time out.
    """

    status: int = 200
    body: Any = None
    events: Sequence[str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stall_after: int | None = None


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedServer:
    """A queue of canned answers behind one POST endpoint."""

    endpoint = "/"

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._queue: deque[Canned] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A client that gave up closes its socket; that is expected, not news.
        self._httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        # A short poll keeps shutdown, and so each test's teardown, quick.
        self._httpd.serve_forever(poll_interval=0.02)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def enqueue(self, *answers: Canned) -> None:
        with self._lock:
            self._queue.extend(answers)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def not_found(self) -> Canned:
        return Canned(status=404, body={"error": {"message": "no such endpoint"}})

    def _next(self, recorded: Recorded) -> Canned:
        with self._lock:
            self.requests.append(recorded)
            if recorded.path.split("?")[0] != self.endpoint:
                return self.not_found()
            if not self._queue:
                return Canned(status=500, body={"error": "no canned response queued"})
            return self._queue.popleft()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                recorded = Recorded(
                    method="POST",
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                server._answer(self, server._next(recorded))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _answer(self, handler: BaseHTTPRequestHandler, canned: Canned) -> None:
        handler.send_response(canned.status)
        for name, value in canned.headers.items():
            handler.send_header(name, value)
        handler.send_header("connection", "close")

        if canned.events is not None:
            handler.send_header("content-type", "text/event-stream")
            handler.end_headers()
            for number, event in enumerate(canned.events):
                if canned.stall_after is not None and number >= canned.stall_after:
                    break
                handler.wfile.write(event.encode())
                handler.wfile.flush()
            if canned.stall_after is not None:
                self._stopping.wait(30)
            return

        body = (
            canned.body
            if isinstance(canned.body, bytes)
            else json.dumps(canned.body).encode()
        )
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        if canned.stall_after == 0:
            self._stopping.wait(30)
            return
        handler.wfile.write(body)


def sse_data(payload: Any) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def sse_event(name: str, payload: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n"


# --- OpenAI chat completions ---------------------------------------------


@dataclass(frozen=True)
class Call:
    """A tool call to script: id, name, and argument text sent as pieces."""

    id: str
    name: str
    arguments: Sequence[str]


class OpenAIServer(ScriptedServer):
    """Speaks `POST /v1/chat/completions`; point clients at `base_url + /v1`."""

    endpoint = "/v1/chat/completions"
    model = "gpt-test"

    @property
    def api_url(self) -> str:
        return self.base_url + "/v1"

    def completion(
        self,
        *,
        text: str | None = None,
        calls: Iterable[Call] = (),
        finish_reason: str | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> dict[str, Any]:
        tool_calls = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": "".join(call.arguments)},
            }
            for call in calls
        ]
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish_reason
                    or ("tool_calls" if tool_calls else "stop"),
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
        }

    def reply(self, **kwargs: Any) -> None:
        self.enqueue(Canned(body=self.completion(**kwargs)))

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        return sse_data(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": self.model,
                "choices": [
                    {"index": 0, "delta": delta, "finish_reason": finish_reason}
                ],
            }
        )

    def stream_events(
        self,
        *,
        text: Sequence[str] = (),
        calls: Sequence[Call] = (),
        finish_reason: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int = 0,
    ) -> list[str]:
        """The chunks OpenAI sends: role, text pieces, tool-call pieces, finish,
        a usage chunk with no choices when usage is given, then `[DONE]`."""
        events = [self.chunk({"role": "assistant", "content": ""})]
        events += [self.chunk({"content": piece}) for piece in text]
        for index, call in enumerate(calls):
            first, *rest = call.arguments or [""]
            events.append(
                self.chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call.id,
                                "type": "function",
                                "function": {"name": call.name, "arguments": first},
                            }
                        ]
                    }
                )
            )
            events += [
                self.chunk(
                    {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                )
                for piece in rest
            ]
        events.append(
            self.chunk({}, finish_reason or ("tool_calls" if calls else "stop"))
        )
        if input_tokens is not None:
            events.append(
                sse_data(
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion.chunk",
                        "created": 1_700_000_000,
                        "model": self.model,
                        "choices": [],
                        "usage": {
                            "prompt_tokens": input_tokens,
                            "completion_tokens": output_tokens,
                            "total_tokens": input_tokens + output_tokens,
                        },
                    }
                )
            )
        events.append("data: [DONE]\n\n")
        return events

    def reply_stream(self, **kwargs: Any) -> None:
        self.enqueue(Canned(events=self.stream_events(**kwargs)))

    def error(
        self, status: int, message: str = "error", headers: dict[str, str] | None = None
    ) -> Canned:
        return Canned(
            status=status,
            body={"error": {"message": message, "type": "error", "code": None}},
            headers=headers or {},
        )


# --- Anthropic messages ----------------------------------------------------


class AnthropicServer(ScriptedServer):
    """Speaks `POST /v1/messages`; point clients at `base_url`."""

    endpoint = "/v1/messages"
    model = "claude-test"

    def message(
        self,
        *,
        text: str | None = None,
        calls: Iterable[Call] = (),
        stop_reason: str | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if text is not None:
            content.append({"type": "text", "text": text})
        calls = list(calls)
        content += [
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": json.loads("".join(call.arguments) or "{}"),
            }
            for call in calls
        ]
        return {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason or ("tool_use" if calls else "end_turn"),
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }

    def reply(self, **kwargs: Any) -> None:
        self.enqueue(Canned(body=self.message(**kwargs)))

    def stream_events(
        self,
        *,
        text: Sequence[str] = (),
        calls: Sequence[Call] = (),
        stop_reason: str | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> list[str]:
        """The events Anthropic sends, in order, with a `ping` among them."""
        start = self.message(input_tokens=input_tokens, output_tokens=1)
        start.update(content=[], stop_reason=None)
        events = [
            sse_event("message_start", {"type": "message_start", "message": start}),
            sse_event("ping", {"type": "ping"}),
        ]
        block = 0
        if text:
            events.append(
                sse_event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": block,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            events += [
                sse_event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": block,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                )
                for piece in text
            ]
            events.append(
                sse_event(
                    "content_block_stop", {"type": "content_block_stop", "index": block}
                )
            )
            block += 1
        for call in calls:
            events.append(
                sse_event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": block,
                        "content_block": {
                            "type": "tool_use",
                            "id": call.id,
                            "name": call.name,
                            "input": {},
                        },
                    },
                )
            )
            events += [
                sse_event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": block,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    },
                )
                for piece in call.arguments
            ]
            events.append(
                sse_event(
                    "content_block_stop", {"type": "content_block_stop", "index": block}
                )
            )
            block += 1
        events.append(
            sse_event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": stop_reason
                        or ("tool_use" if calls else "end_turn"),
                        "stop_sequence": None,
                    },
                    "usage": {"output_tokens": output_tokens},
                },
            )
        )
        events.append(sse_event("message_stop", {"type": "message_stop"}))
        return events

    def reply_stream(self, **kwargs: Any) -> None:
        self.enqueue(Canned(events=self.stream_events(**kwargs)))

    def error(
        self,
        status: int,
        message: str = "error",
        error_type: str = "api_error",
        headers: dict[str, str] | None = None,
    ) -> Canned:
        return Canned(
            status=status,
            body={"type": "error", "error": {"type": error_type, "message": message}},
            headers={"request-id": "req_test", **(headers or {})},
        )
