"""Agents of a workspace over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from agents import services
from agents.api.serializers import AgentIn, AgentOut
from agents.models import Agent
from tenancy.api.access import NotFound, Rule
from tenancy.api.base import WorkspaceAPIView
from tenancy.api.docs import ERRORS

READ = Rule(role="viewer", scope="agents:read")
WRITE = Rule(role="member", scope="agents:write")


class AgentListView(WorkspaceAPIView):
    access = {"GET": READ, "POST": WRITE}

    def get_base_queryset(self) -> Any:
        return Agent.objects.order_by("name", "id")

    @extend_schema(
        operation_id="workspaces_agents_list",
        responses={200: AgentOut(many=True), **ERRORS},
    )
    def get(self, request: Request, workspace_id: uuid.UUID) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(AgentOut(page, many=True).data)

    @extend_schema(
        operation_id="workspaces_agents_create",
        request=AgentIn,
        responses={201: AgentOut, **ERRORS},
    )
    def post(self, request: Request, workspace_id: uuid.UUID) -> Response:
        data = AgentIn(data=request.data)
        data.is_valid(raise_exception=True)
        agent = services.agent_create(workspace=self.workspace, **data.validated_data)
        return Response(AgentOut(agent).data, status=status.HTTP_201_CREATED)


class AgentDetailView(WorkspaceAPIView):
    access = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    def get_base_queryset(self) -> Any:
        return Agent.objects.select_related("workspace")

    def _agent(self, agent_id: uuid.UUID) -> Agent:
        agent = self.get_queryset().filter(pk=agent_id).first()
        if agent is None:
            raise NotFound("No such agent.")
        return agent

    @extend_schema(
        operation_id="workspaces_agents_get", responses={200: AgentOut, **ERRORS}
    )
    def get(
        self, request: Request, workspace_id: uuid.UUID, agent_id: uuid.UUID
    ) -> Response:
        return Response(AgentOut(self._agent(agent_id)).data)

    @extend_schema(
        operation_id="workspaces_agents_update",
        request=AgentIn(partial=True),
        responses={200: AgentOut, **ERRORS},
    )
    def patch(
        self, request: Request, workspace_id: uuid.UUID, agent_id: uuid.UUID
    ) -> Response:
        agent = self._agent(agent_id)
        data = AgentIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        agent = services.agent_update(agent=agent, fields=dict(data.validated_data))
        return Response(AgentOut(agent).data)

    @extend_schema(
        operation_id="workspaces_agents_delete", responses={204: None, **ERRORS}
    )
    def delete(
        self, request: Request, workspace_id: uuid.UUID, agent_id: uuid.UUID
    ) -> Response:
        services.agent_delete(agent=self._agent(agent_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
