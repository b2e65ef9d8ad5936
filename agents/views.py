"""Dashboard pages of chat and agents (templates in agents/).

Chat streams through ``chat_answer``: a CSRF-protected POST, authenticated by
the browser session, that answers with the same server-sent events as
``POST /v1/workspaces/{id}/chat`` with ``stream: true`` (the same services
prepare and run it, so budgets, inactive agents, disabled tools and plan
limits are the API's). Who may do what follows the API: anyone in the
workspace may chat, with their own sessions; members and up manage agents.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from rest_framework import exceptions as drf_exceptions

from agents import selectors, services
from agents.answers import answer_blocks, answer_view
from agents.api.chat import ChatSessionDetailView, ChatView
from agents.api.views import AgentDetailView, AgentListView
from agents.chat import services as chat_services
from agents.chat.errors import ChatError
from agents.chat.streaming import sse_stream
from agents.chat.streams import EventLog, owner_of, parse_event_id
from agents.forms import MODEL_SUGGESTIONS, AgentForm, ChatForm
from agents.models import Agent, ChatSession, Message, MessageRole
from knowledge import selectors as knowledge_selectors
from tenancy import quotas, ratelimit
from tenancy.api.access import Rule
from tenancy.api.base import user_rate_limit
from tenancy.context import Principal
from tenancy.dashboard import Page, workspace_page
from tenancy.errors import AtriumError

SESSIONS_SHOWN = 50

# Who may do what: the API endpoints' own rules, so a page and the endpoint
# behind it cannot disagree (a forged form post is refused like the call).
CHAT = ChatView.access["POST"]
SESSION_DELETE = ChatSessionDetailView.access["DELETE"]
AGENTS_READ = AgentListView.access["GET"]
AGENT_CREATE = AgentListView.access["POST"]
AGENT_UPDATE = AgentDetailView.access["PATCH"]
AGENT_DELETE = AgentDetailView.access["DELETE"]


def _may(page: Page, rule: Rule) -> bool:
    return rule.role is not None and page.workspace_at_least(rule.role)


def _principal(request: HttpRequest) -> Principal:
    principal = getattr(request, "principal", None)
    if not isinstance(principal, Principal) or principal.user_id is None:
        raise PermissionDenied
    return principal


def _agents(page: Page) -> Any:
    return Agent.objects.filter(workspace=page.ws).order_by("name", "id")


def _agent(page: Page, agent_id: uuid.UUID) -> Agent:
    agent = _agents(page).select_related("workspace").filter(pk=agent_id).first()
    if agent is None:
        raise Http404("No such agent.")
    return agent


def _session(request: HttpRequest, page: Page, session_id: uuid.UUID) -> ChatSession:
    try:
        return selectors.chat_session_get(
            workspace_id=page.ws.pk,
            principal=_principal(request),
            session_id=session_id,
        )
    except ChatSession.DoesNotExist:
        raise Http404("No such session.") from None


def _transcript(session: ChatSession) -> list[dict[str, Any]]:
    entries = []
    for message in selectors.chat_message_list(
        workspace_id=session.workspace_id, session_id=session.pk
    ):
        if message.role == MessageRole.ASSISTANT:
            entries.append({"role": "assistant", **answer_view(message)})
        elif message.role == MessageRole.USER:
            entries.append({"role": "user", "message": message})
    return entries


# --- Chat


@workspace_page({"GET": CHAT})
def chat(
    request: HttpRequest, page: Page, session_id: uuid.UUID | None = None
) -> HttpResponse:
    """The chat page: agents, the user's sessions, and one conversation."""
    principal = _principal(request)
    active = list(_agents(page).filter(is_active=True))
    session = _session(request, page, session_id) if session_id else None

    agent: Agent | None = None
    if session is not None:
        agent = session.agent
    else:
        wanted = request.GET.get("agent", "")
        agent = next((a for a in active if str(a.pk) == wanted), None)
        agent = agent or (active[0] if active else None)

    sessions = selectors.chat_session_list(
        workspace_id=page.ws.pk, principal=principal
    ).select_related("agent")[:SESSIONS_SHOWN]
    return render(
        request,
        "agents/chat.html",
        {
            "nav": "chat",
            "agents": active,
            "agent": agent,
            "session": session,
            "current_id": str(session.pk) if session else "",
            "sessions": sessions,
            "transcript": _transcript(session) if session else [],
            "has_agents": bool(active) or _agents(page).exists(),
            "can_edit": _may(page, AGENT_UPDATE),
        },
    )


@workspace_page({"GET": CHAT})
def chat_sessions(request: HttpRequest, page: Page) -> HttpResponse:
    """The session list alone, refreshed after a new session starts."""
    sessions = selectors.chat_session_list(
        workspace_id=page.ws.pk, principal=_principal(request)
    ).select_related("agent")[:SESSIONS_SHOWN]
    current = request.GET.get("current", "")
    return render(
        request,
        "agents/_session_list.html",
        {"sessions": sessions, "current_id": current},
    )


@workspace_page({"POST": SESSION_DELETE})
def chat_session_delete(
    request: HttpRequest, page: Page, session_id: uuid.UUID
) -> HttpResponse:
    session = _session(request, page, session_id)
    session.workspace = page.ws
    chat_services.chat_session_delete(session=session)
    messages.success(request, "Conversation deleted.")
    return redirect("app:chat", page.ws.pk)


def _error(status: int, code: str, message: str, **details: Any) -> HttpResponse:
    """Why the answer cannot start, for the conversation to show.

    A missing or foreign agent, session or answer is a plain 404, as in the
    API. Every other refusal (invalid question, inactive agent, missing
    search tool, budgets, plan and rate limits) is a stream of one ``error``
    event carrying the status the API answers with: the page shows it like an
    error in mid-answer, and the browser does not report a failed request.
    """
    if status == 404:
        body = {"error": {"code": code, "message": message, "details": details}}
        return JsonResponse(body, status=404)
    event = {"code": code, "message": message, "status": status, **details}
    data = json.dumps(event, ensure_ascii=False, default=str)
    response = HttpResponse(
        f"event: error\ndata: {data}\n\n", content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    return response


def _admit(page: Page, principal: Principal) -> None:
    """Count the chat against the same rate limits and monthly quota as the API."""
    organization = page.ws.organization
    decision = ratelimit.hit(
        [
            ratelimit.Limit(f"user:{principal.user_id}", user_rate_limit()),
            ratelimit.Limit(
                f"workspace:{page.ws.pk}", quotas.workspace_rate_limit(organization)
            ),
        ]
    )
    if not decision.allowed:
        raise drf_exceptions.Throttled(wait=decision.retry_after, code="rate_limited")
    quotas.monthly_request_count(organization, is_test=False)


def _event_stream(body: Any) -> HttpResponse:
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    # The page guards are typed for HttpResponse; Django serves both kinds.
    return cast(HttpResponse, response)


@workspace_page({"POST": CHAT})
def chat_answer(request: HttpRequest, page: Page) -> HttpResponse:
    """Ask an agent; the answer comes as server-sent events.

    A refusal before the answer starts is one ``error`` event (see
    ``_error``). With ``Last-Event-ID`` the rest of an answer this user
    started is replayed instead (after a dropped connection).
    """
    principal = _principal(request)
    form = ChatForm(request.POST)
    if not form.is_valid():
        fields = {
            name: [str(e) for e in problems] for name, problems in form.errors.items()
        }
        return _error(400, "invalid_request", "Write a question to ask.", **fields)
    values = form.cleaned_data

    try:
        _admit(page, principal)
    except drf_exceptions.Throttled as error:
        code = "rate_limited"
        if isinstance(error, quotas.MonthlyQuotaExceeded):
            code = "monthly_request_limit_exceeded"
        return _error(
            429, code, str(error.detail), retry_after=getattr(error, "wait", None)
        )

    resume = request.headers.get("Last-Event-ID")
    if resume:
        parsed = parse_event_id(resume)
        log = EventLog(page.ws.pk, parsed[0]) if parsed else None
        if parsed is None or log is None or log.owner() != owner_of(principal):
            return _error(404, "not_found", "No such answer to resume.")
        idle = float(settings.ATRIUM_PROVIDER_TIMEOUT) + 30
        return _event_stream(log.replay(parsed[1], idle_seconds=idle))

    try:
        plan = chat_services.chat_prepare(
            workspace=page.ws,
            principal=principal,
            agent_id=values["agent"],
            query=values["query"],
            session_id=values["session"],
        )
    except AtriumError as error:
        return _error(error.status, error.code, error.message, **error.details)
    return _event_stream(sse_stream(plan))


def _message(
    request: HttpRequest, page: Page, session_id: uuid.UUID, message_id: uuid.UUID
) -> Message:
    session = _session(request, page, session_id)
    message = (
        selectors.chat_message_list(workspace_id=page.ws.pk, session_id=session.pk)
        .filter(pk=message_id, role=MessageRole.ASSISTANT)
        .first()
    )
    if message is None:
        raise Http404("No such answer.")
    return message


@workspace_page({"GET": CHAT})
def chat_message(
    request: HttpRequest, page: Page, session_id: uuid.UUID, message_id: uuid.UUID
) -> HttpResponse:
    """One stored answer, rendered: swapped in when its stream ends."""
    message = _message(request, page, session_id, message_id)
    return render(request, "agents/_message.html", answer_view(message))


@workspace_page({"GET": CHAT})
def chat_source(
    request: HttpRequest,
    page: Page,
    session_id: uuid.UUID,
    message_id: uuid.UUID,
    label: str,
) -> HttpResponse:
    """The passage or fact an answer cites, for the side panel."""
    message = _message(request, page, session_id, message_id)
    view = answer_view(message)
    citation = next((c for c in view["citations"] if c["label"] == label), None)
    if citation is None:
        raise Http404("No such source.")

    chunk = None
    if citation.get("chunk_id") and citation.get("document_id"):
        try:
            chunk = (
                knowledge_selectors.document_chunk_list(
                    workspace_id=page.ws.pk,
                    document_id=uuid.UUID(str(citation["document_id"])),
                )
                .select_related("document")
                .filter(pk=uuid.UUID(str(citation["chunk_id"])))
                .first()
            )
        except ValueError:
            chunk = None
    return render(
        request,
        "agents/_source.html",
        {
            "citation": citation,
            "chunk": chunk,
            "passage": answer_blocks(chunk.content, {}, soft_wraps=True)
            if chunk
            else [],
        },
    )


# --- Agents


def _model_problem(page: Page, agent: Agent) -> str:
    """Why the agent's model cannot answer now (no key, no server), or ''.

    Built the way chat builds it, the organization's own key included.
    """
    try:
        chat_services.agent_model_build(
            agent=agent, organization_id=page.ws.organization_id
        )
    except ChatError as error:
        return error.message
    return ""


@workspace_page({"GET": AGENTS_READ})
def agents(request: HttpRequest, page: Page) -> HttpResponse:
    rows = [
        {"agent": agent, "problem": _model_problem(page, agent)}
        for agent in _agents(page)
    ]
    return render(
        request,
        "agents/agents.html",
        {
            "nav": "agents",
            "rows": rows,
            "can_create": _may(page, AGENT_CREATE),
            "can_edit": _may(page, AGENT_UPDATE),
            "can_delete": _may(page, AGENT_DELETE),
        },
    )


def _form_context(page: Page, form: AgentForm, **extra: Any) -> dict[str, Any]:
    return {
        "nav": "agents",
        "form": form,
        "suggestions": MODEL_SUGGESTIONS,
        "can_edit": _may(page, AGENT_UPDATE),
        "can_delete": _may(page, AGENT_DELETE),
        **extra,
    }


@workspace_page({"GET": AGENT_CREATE, "POST": AGENT_CREATE})
def agent_new(request: HttpRequest, page: Page) -> HttpResponse:
    form = AgentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            agent = services.agent_create(workspace=page.ws, **form.agent_fields())
        except AtriumError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Agent “{agent.name}” created. Try it here.")
            return redirect("app:agent", page.ws.pk, agent.pk)
    return render(request, "agents/agent_form.html", _form_context(page, form))


@workspace_page({"GET": AGENTS_READ, "POST": AGENT_UPDATE})
def agent_detail(request: HttpRequest, page: Page, agent_id: uuid.UUID) -> HttpResponse:
    """The agent's configuration beside a panel that chats with it."""
    agent = _agent(page, agent_id)
    form = AgentForm.for_agent(agent, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.agent_update(agent=agent, fields=form.agent_fields())
        except AtriumError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Saved. The test panel now uses these settings.")
            return redirect("app:agent", page.ws.pk, agent.pk)
    return render(
        request,
        "agents/agent_form.html",
        _form_context(page, form, agent=agent, problem=_model_problem(page, agent)),
    )


@workspace_page({"POST": AGENT_UPDATE})
def agent_activation(
    request: HttpRequest, page: Page, agent_id: uuid.UUID
) -> HttpResponse:
    agent = _agent(page, agent_id)
    active = request.POST.get("active") == "1"
    services.agent_update(agent=agent, fields={"is_active": active})
    state = "active" if active else "inactive"
    messages.success(request, f"“{agent.name}” is now {state}.")
    if request.POST.get("next") == "agent":
        return redirect("app:agent", page.ws.pk, agent.pk)
    return redirect("app:agents", page.ws.pk)


@workspace_page({"GET": AGENT_DELETE, "POST": AGENT_DELETE})
def agent_delete(request: HttpRequest, page: Page, agent_id: uuid.UUID) -> HttpResponse:
    agent = _agent(page, agent_id)
    if request.method == "POST":
        services.agent_delete(agent=agent)
        messages.success(request, f"Agent “{agent.name}” deleted.")
        return redirect("app:agents", page.ws.pk)
    return render(
        request,
        "agents/agent_delete.html",
        {"nav": "agents", "agent": agent, "sessions": agent.sessions.count()},
    )
