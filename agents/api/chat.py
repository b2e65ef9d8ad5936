"""Chat with an agent, and the caller's chat sessions, over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from agents import selectors
from agents.chat import services
from agents.chat.streaming import answer_summary, sse_stream
from agents.chat.streams import EventLog, owner_of, parse_event_id
from agents.models import ChatSession, Message
from tenancy.api.access import NotFound, Rule
from tenancy.api.base import WorkspaceAPIView
from tenancy.api.docs import ERRORS, ErrorOut
from tenancy.api.serializers import StrictSerializer

CHAT = Rule(role="viewer", scope="chat")
QUERY_MAX = 8000


class ChatIn(StrictSerializer):
    agent_id = serializers.UUIDField()
    query = serializers.CharField(max_length=QUERY_MAX, trim_whitespace=True)
    session_id = serializers.UUIDField(required=False, allow_null=True)
    stream = serializers.BooleanField(default=False)


class CitationOut(serializers.Serializer):
    # A declared field named like Field.label: DRF keeps it apart, mypy cannot.
    label = serializers.CharField(  # type: ignore[assignment]
        help_text="How the answer cites it: [S1]."
    )
    type = serializers.CharField(help_text="`chunk` or `fact`.")
    document_id = serializers.UUIDField(allow_null=True)
    document_title = serializers.CharField()
    chunk_id = serializers.UUIDField(allow_null=True)
    fact_id = serializers.CharField(allow_null=True)
    snippet = serializers.CharField()
    score = serializers.FloatField(allow_null=True)


class UsageOut(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    estimated_cost_usd = serializers.DecimalField(max_digits=12, decimal_places=6)


class ChatOut(serializers.Serializer):
    response = serializers.CharField(help_text="The answer.")
    session_id = serializers.UUIDField()
    message_id = serializers.UUIDField()
    agent_id = serializers.UUIDField()
    model = serializers.CharField()
    citations = CitationOut(many=True)
    tools_used = serializers.ListField(child=serializers.CharField())
    tool_calls = serializers.ListField(child=serializers.DictField())
    usage = UsageOut()
    steps = serializers.IntegerField()
    latency_ms = serializers.IntegerField()


class MessageOut(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "role",
            "content",
            "tool_calls",
            "citations",
            "input_tokens",
            "output_tokens",
            "model_name",
            "metadata",
            "created_at",
        ]
        read_only_fields = fields


class SessionOut(serializers.ModelSerializer):
    message_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ChatSession
        fields = [
            "id",
            "agent_id",
            "title",
            "message_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SessionDetailOut(SessionOut):
    messages = serializers.SerializerMethodField()

    class Meta(SessionOut.Meta):
        fields = [*SessionOut.Meta.fields, "messages"]
        read_only_fields = fields

    def get_messages(self, session: ChatSession) -> list[dict[str, Any]]:
        messages = selectors.chat_message_list(
            workspace_id=session.workspace_id, session_id=session.pk
        )
        return list(MessageOut(messages, many=True).data)


STREAM_DESCRIPTION = """Ask an agent a question in the workspace.

Without `stream`, the answer comes whole: text, session, citations (the
chunks and graph facts the answer used, each with the `[S1]` label the text
cites it by), tools used and token usage. With `"stream": true` the answer
is `text/event-stream`: events `session`, `tool_call`, `tool_result`,
`token`, `citation`, then `done` (or `error`), each with an id
`<answer_id>:<n>`. After a lost connection, send the same request with
`Last-Event-ID: <the last id seen>` to get the rest of the same answer.
Omit `session_id` to start a session; a session belongs to one agent and
to the user or key that started it."""


class ChatView(WorkspaceAPIView):
    access = {"POST": CHAT}

    @extend_schema(
        operation_id="workspaces_chat",
        request=ChatIn,
        parameters=[
            OpenApiParameter(
                "Last-Event-ID",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Resume a streamed answer after this event id.",
            )
        ],
        responses={
            200: OpenApiResponse(
                ChatOut, description="The answer (or, when streaming, its events)."
            ),
            409: OpenApiResponse(
                ErrorOut, description="`agent_inactive` or `tool_disabled`"
            ),
            422: OpenApiResponse(ErrorOut, description="`step_limit_reached`"),
            502: OpenApiResponse(ErrorOut, description="The agent's model failed."),
            503: OpenApiResponse(
                ErrorOut, description="The agent's model is unavailable."
            ),
            **ERRORS,
        },
        description=STREAM_DESCRIPTION,
    )
    def post(self, request: Request, workspace_id: uuid.UUID) -> Any:
        data = ChatIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data

        resume = request.headers.get("Last-Event-ID")
        if resume and values["stream"]:
            return self._resume(resume)

        if not values["stream"]:
            plan, answer, stored = services.chat_respond(
                workspace=self.workspace,
                principal=self.principal,
                agent_id=values["agent_id"],
                query=values["query"],
                session_id=values.get("session_id"),
            )
            return Response(answer_summary(plan, answer, stored))

        plan = services.chat_prepare(
            workspace=self.workspace,
            principal=self.principal,
            agent_id=values["agent_id"],
            query=values["query"],
            session_id=values.get("session_id"),
        )
        return _event_stream(sse_stream(plan))

    def _resume(self, event_id: str) -> StreamingHttpResponse:
        parsed = parse_event_id(event_id)
        if parsed is None:
            raise NotFound("No such answer to resume.")
        answer_id, after = parsed
        log = EventLog(self.workspace.pk, answer_id)
        if log.owner() != owner_of(self.principal):
            raise NotFound("No such answer to resume; it may have expired.")
        return _event_stream(log.replay(after, idle_seconds=_idle_seconds()))


def _idle_seconds() -> float:
    from django.conf import settings

    # One model turn may legitimately take the provider's whole timeout.
    return float(settings.ATRIUM_PROVIDER_TIMEOUT) + 30


def _event_stream(body: Any) -> StreamingHttpResponse:
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


class ChatSessionListView(WorkspaceAPIView):
    access = {"GET": CHAT}

    @extend_schema(
        operation_id="workspaces_chat_sessions_list",
        responses={200: SessionOut(many=True), **ERRORS},
        description="The caller's own chat sessions, most recently used first.",
    )
    def get(self, request: Request, workspace_id: uuid.UUID) -> Response:
        sessions = selectors.chat_session_list(
            workspace_id=self.workspace.pk, principal=self.principal
        )
        page = self.paginate_queryset(sessions)
        return self.get_paginated_response(SessionOut(page, many=True).data)


class ChatSessionDetailView(WorkspaceAPIView):
    access = {"GET": CHAT, "DELETE": CHAT}

    def _session(self, session_id: uuid.UUID) -> ChatSession:
        try:
            return selectors.chat_session_get(
                workspace_id=self.workspace.pk,
                principal=self.principal,
                session_id=session_id,
            )
        except ChatSession.DoesNotExist:
            raise NotFound("No such session.") from None

    @extend_schema(
        operation_id="workspaces_chat_sessions_get",
        responses={200: SessionDetailOut, **ERRORS},
    )
    def get(
        self, request: Request, workspace_id: uuid.UUID, session_id: uuid.UUID
    ) -> Response:
        return Response(SessionDetailOut(self._session(session_id)).data)

    @extend_schema(
        operation_id="workspaces_chat_sessions_delete",
        responses={204: None, **ERRORS},
    )
    def delete(
        self, request: Request, workspace_id: uuid.UUID, session_id: uuid.UUID
    ) -> Response:
        session = self._session(session_id)
        session.workspace = self.workspace
        services.chat_session_delete(session=session)
        return Response(status=status.HTTP_204_NO_CONTENT)
