"""Evaluation sets and their runs over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from agents import evaluation, selectors
from agents.models import Agent, EvalRun, EvalSet
from tenancy.api.access import NotFound, Rule
from tenancy.api.base import WorkspaceAPIView
from tenancy.api.docs import ERRORS
from tenancy.api.serializers import StrictSerializer

READ = Rule(role="viewer", scope="agents:read")
WRITE = Rule(role="member", scope="agents:write")


class QuestionIn(StrictSerializer):
    question = serializers.CharField(max_length=4000)
    expected_document_ids = serializers.ListField(
        child=serializers.UUIDField(), max_length=50, allow_empty=False
    )


class EvalSetIn(StrictSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    questions = QuestionIn(many=True)

    def validate_questions(self, value: list[Any]) -> list[Any]:
        if not value:
            raise serializers.ValidationError("At least one question is needed.")
        if len(value) > evaluation.MAX_QUESTIONS:
            raise serializers.ValidationError(
                f"At most {evaluation.MAX_QUESTIONS} questions per set."
            )
        return value


class EvalSetOut(serializers.ModelSerializer):
    class Meta:
        model = EvalSet
        fields = ["id", "name", "description", "questions", "created_at", "updated_at"]
        read_only_fields = fields


class EvalRunIn(StrictSerializer):
    agent_id = serializers.UUIDField()


class EvalRunOut(serializers.ModelSerializer):
    class Meta:
        model = EvalRun
        fields = [
            "id",
            "eval_set_id",
            "agent_id",
            "agent_config",
            "hit_rate",
            "mrr",
            "mean_citations",
            "input_tokens",
            "output_tokens",
            "results",
            "status",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class EvalSetListView(WorkspaceAPIView):
    access = {"GET": READ, "POST": WRITE}

    @extend_schema(
        operation_id="workspaces_eval_sets_list",
        responses={200: EvalSetOut(many=True), **ERRORS},
    )
    def get(self, request: Request, workspace_id: uuid.UUID) -> Response:
        page = self.paginate_queryset(
            selectors.eval_set_list(workspace_id=self.workspace.pk)
        )
        return self.get_paginated_response(EvalSetOut(page, many=True).data)

    @extend_schema(
        operation_id="workspaces_eval_sets_create",
        request=EvalSetIn,
        responses={201: EvalSetOut, **ERRORS},
    )
    def post(self, request: Request, workspace_id: uuid.UUID) -> Response:
        data = EvalSetIn(data=request.data)
        data.is_valid(raise_exception=True)
        eval_set = evaluation.eval_set_create(
            workspace=self.workspace, **data.validated_data
        )
        return Response(EvalSetOut(eval_set).data, status=status.HTTP_201_CREATED)


class EvalSetScoped(WorkspaceAPIView):
    def eval_set(self, eval_set_id: uuid.UUID) -> EvalSet:
        found = (
            selectors.eval_set_list(workspace_id=self.workspace.pk)
            .filter(pk=eval_set_id)
            .first()
        )
        if found is None:
            raise NotFound("No such evaluation set.")
        found.workspace = self.workspace
        return found


class EvalSetDetailView(EvalSetScoped):
    access = {"GET": READ, "DELETE": WRITE}

    @extend_schema(
        operation_id="workspaces_eval_sets_get", responses={200: EvalSetOut, **ERRORS}
    )
    def get(
        self, request: Request, workspace_id: uuid.UUID, eval_set_id: uuid.UUID
    ) -> Response:
        return Response(EvalSetOut(self.eval_set(eval_set_id)).data)

    @extend_schema(
        operation_id="workspaces_eval_sets_delete", responses={204: None, **ERRORS}
    )
    def delete(
        self, request: Request, workspace_id: uuid.UUID, eval_set_id: uuid.UUID
    ) -> Response:
        evaluation.eval_set_delete(eval_set=self.eval_set(eval_set_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EvalRunListView(EvalSetScoped):
    access = {"GET": READ, "POST": WRITE}

    @extend_schema(
        operation_id="workspaces_eval_runs_list",
        responses={200: EvalRunOut(many=True), **ERRORS},
    )
    def get(
        self, request: Request, workspace_id: uuid.UUID, eval_set_id: uuid.UUID
    ) -> Response:
        runs = selectors.eval_run_list(
            workspace_id=self.workspace.pk, eval_set_id=self.eval_set(eval_set_id).pk
        )
        page = self.paginate_queryset(runs)
        return self.get_paginated_response(EvalRunOut(page, many=True).data)

    @extend_schema(
        operation_id="workspaces_eval_runs_create",
        request=EvalRunIn,
        responses={202: EvalRunOut, **ERRORS},
        description=(
            "Queue a run: a worker asks the agent every question of the set and "
            "scores where the expected documents appear among what its tools "
            "retrieved (hit rate, MRR and citations per question). The run comes "
            "back `queued`; poll it until its status is `done` or `failed`."
        ),
    )
    def post(
        self, request: Request, workspace_id: uuid.UUID, eval_set_id: uuid.UUID
    ) -> Response:
        eval_set = self.eval_set(eval_set_id)
        data = EvalRunIn(data=request.data)
        data.is_valid(raise_exception=True)
        agent = Agent.objects.filter(
            workspace=self.workspace, pk=data.validated_data["agent_id"]
        ).first()
        if agent is None:
            raise NotFound("No such agent.")
        run = evaluation.eval_run_create(
            eval_set=eval_set, agent=agent, principal=self.principal
        )
        return Response(EvalRunOut(run).data, status=status.HTTP_202_ACCEPTED)


class EvalRunDetailView(EvalSetScoped):
    access = {"GET": READ}

    @extend_schema(
        operation_id="workspaces_eval_runs_get",
        responses={200: EvalRunOut, **ERRORS},
        description="One run: its status while queued or running, then its scores.",
    )
    def get(
        self,
        request: Request,
        workspace_id: uuid.UUID,
        eval_set_id: uuid.UUID,
        run_id: uuid.UUID,
    ) -> Response:
        run = (
            selectors.eval_run_list(
                workspace_id=self.workspace.pk,
                eval_set_id=self.eval_set(eval_set_id).pk,
            )
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            raise NotFound("No such run.")
        return Response(EvalRunOut(run).data)


class EvalRunCompareView(EvalSetScoped):
    access = {"GET": READ}

    @extend_schema(
        operation_id="workspaces_eval_runs_compare",
        parameters=[
            OpenApiParameter("base", uuid.UUID, required=True),
            OpenApiParameter("head", uuid.UUID, required=True),
        ],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description="Two runs of the set side by side, question by question.",
    )
    def get(
        self, request: Request, workspace_id: uuid.UUID, eval_set_id: uuid.UUID
    ) -> Response:
        eval_set = self.eval_set(eval_set_id)
        runs = selectors.eval_run_list(
            workspace_id=self.workspace.pk, eval_set_id=eval_set.pk
        )
        found: dict[str, EvalRun] = {}
        for name in ("base", "head"):
            try:
                run_id = uuid.UUID(request.query_params.get(name, ""))
            except ValueError:
                raise NotFound(f"No such run ({name}).") from None
            run = runs.filter(pk=run_id).first()
            if run is None:
                raise NotFound(f"No such run ({name}).")
            found[name] = run
        return Response(
            evaluation.eval_run_compare(base=found["base"], head=found["head"])
        )
