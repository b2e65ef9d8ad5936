"""Evaluation sets: hit rate, MRR and citations per question; runs compared."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from agents.chat.loop import Answer
from agents.evaluation import eval_run_execute, score_question
from agents.models import EvalRun
from agents.providers import Usage
from billing.models import UsageEvent
from billing.services import usage_events_flush
from tenancy.context import as_workspace
from tests.agents.support import make_agent, stock
from tests.agents.test_chat_api import key_for
from tests.api.conftest import Api, user_api
from tests.support.worker import Worker, start_worker, stop_worker

pytestmark = pytest.mark.django_db


@pytest.fixture
def default_worker(tmp_path) -> Iterator[Worker]:  # type: ignore[no-untyped-def]
    """A real worker on the queue evaluation runs are sent to."""
    worker = start_worker(tmp_path, queues=("default",))
    yield worker
    stop_worker(worker)


def finished(api: Api, url: str, timeout: float = 90) -> dict:  # type: ignore[type-arg]
    """Poll a run until the worker has scored it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(url).json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"run still {body['status']} after {timeout} s")


def source(document: str) -> dict[str, str]:
    return {"document_id": document}


def answer(retrieved: list[str], cited: list[str]) -> Answer:
    return Answer(
        text="",
        model="m",
        usage=Usage(),
        steps=1,
        tool_calls=[],
        citations=[source(d) for d in cited],
        retrieved=[source(d) for d in retrieved],
    )


def test_a_question_is_ranked_by_distinct_documents_in_retrieval_order() -> None:
    scored = score_question(answer(["x", "x", "y", "e"], ["e", "x"]), {"e"})

    assert scored["hit"] is True
    assert scored["rank"] == 3
    assert scored["reciprocal_rank"] == pytest.approx(1 / 3)
    assert scored["citations"] == 2
    assert scored["expected_citations"] == 1
    assert scored["retrieved_document_ids"] == ["x", "y", "e"]


def test_a_miss_scores_zero() -> None:
    scored = score_question(answer(["x"], []), {"e"})

    assert (scored["hit"], scored["rank"], scored["reciprocal_rank"]) == (
        False,
        None,
        0.0,
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_set_runs_in_a_worker_against_two_agents_and_the_runs_compare(
    tenant_a, default_worker
) -> None:  # type: ignore[no-untyped-def]
    documents = stock(tenant_a.workspace)
    good = make_agent(tenant_a.workspace, "good", enabled_tools=["hybrid_search"])
    # Keyword search for a question worded unlike the documents finds less.
    worse = make_agent(tenant_a.workspace, "worse", enabled_tools=["text_search"])
    api = user_api(tenant_a.owner)
    base = f"/v1/workspaces/{tenant_a.workspace.pk}/eval-sets"
    created = api.post(
        base,
        {
            "name": "Support basics",
            "questions": [
                {
                    "question": "I forgot my password, what now?",
                    "expected_document_ids": [str(documents["password-reset.md"].pk)],
                },
                {
                    "question": "Can I get my money back for a yearly subscription?",
                    "expected_document_ids": [str(documents["refunds.md"].pk)],
                },
                {
                    "question": "What does a 429 answer mean?",
                    "expected_document_ids": [str(documents["rate-limits.md"].pk)],
                },
            ],
        },
    )
    assert created.status_code == 201, created.json()
    runs = f"{base}/{created.json()['id']}/runs"

    first = api.post(runs, {"agent_id": str(good.pk)})
    second = api.post(runs, {"agent_id": str(worse.pk)})
    early = api.get(
        f"{base}/{created.json()['id']}/compare",
        QUERY_STRING=f"base={first.json()['id']}&head={second.json()['id']}",
    )

    assert first.status_code == 202, first.json()
    assert first.json()["status"] in ("queued", "running")
    assert first.json()["results"] == []
    good_run = finished(api, f"{runs}/{first.json()['id']}")
    worse_run = finished(api, f"{runs}/{second.json()['id']}")
    assert good_run["status"] == "done" and good_run["finished_at"]
    if early.status_code != 200:  # the worker may have been quick
        assert early.json()["error"]["code"] == "eval_run_not_finished"
    assert good_run["hit_rate"] == 1.0
    assert good_run["mrr"] == 1.0
    assert [r["rank"] for r in good_run["results"]] == [1, 1, 1]
    assert all(r["citations"] >= 1 for r in good_run["results"])
    assert good_run["agent_config"]["enabled_tools"] == ["hybrid_search"]
    assert worse_run["mrr"] < good_run["mrr"]

    compared = api.get(
        f"{base}/{created.json()['id']}/compare",
        QUERY_STRING=f"base={good_run['id']}&head={worse_run['id']}",
    ).json()
    assert compared["delta"]["mrr"] == pytest.approx(worse_run["mrr"] - 1.0)
    assert compared["worse_questions"] >= 1
    assert len(compared["questions"]) == 3
    listed = api.get(runs).json()
    assert {r["id"] for r in listed["results"]} == {good_run["id"], worse_run["id"]}

    usage_events_flush()
    with as_workspace(tenant_a.workspace.pk):
        metered = UsageEvent.objects.filter(
            workspace=tenant_a.workspace, agent_id=good.pk, event_type="chat"
        ).get()
    assert metered.user_id == tenant_a.owner.pk
    assert metered.tools_called == ["hybrid_search"]


def test_a_finished_run_is_not_scored_again(tenant_a) -> None:  # type: ignore[no-untyped-def]
    documents = stock(tenant_a.workspace)
    agent = make_agent(tenant_a.workspace, "good", enabled_tools=["hybrid_search"])
    api = user_api(tenant_a.owner)
    base = f"/v1/workspaces/{tenant_a.workspace.pk}/eval-sets"
    eval_set = api.post(
        base,
        {
            "name": "One",
            "questions": [
                {
                    "question": "I forgot my password",
                    "expected_document_ids": [str(documents["password-reset.md"].pk)],
                }
            ],
        },
    ).json()
    queued = api.post(f"{base}/{eval_set['id']}/runs", {"agent_id": str(agent.pk)})
    ids = {"workspace_id": str(tenant_a.workspace.pk), "run_id": queued.json()["id"]}

    first = eval_run_execute(**ids)
    again = eval_run_execute(**ids)

    assert first is not None and first.status == "done" and first.hit_rate == 1.0
    assert again is None
    with as_workspace(tenant_a.workspace.pk):
        assert EvalRun.objects.get(pk=ids["run_id"]).finished_at == first.finished_at


def test_an_agent_switched_off_before_its_run_fails_the_run(tenant_a) -> None:  # type: ignore[no-untyped-def]
    stock(tenant_a.workspace)
    agent = make_agent(tenant_a.workspace, "off", enabled_tools=["hybrid_search"])
    api = user_api(tenant_a.owner)
    base = f"/v1/workspaces/{tenant_a.workspace.pk}/eval-sets"
    eval_set = api.post(
        base,
        {
            "name": "One",
            "questions": [
                {
                    "question": "q",
                    "expected_document_ids": ["00000000-0000-4000-8000-000000000001"],
                }
            ],
        },
    ).json()
    queued = api.post(f"{base}/{eval_set['id']}/runs", {"agent_id": str(agent.pk)})
    with as_workspace(tenant_a.workspace.pk):
        type(agent).objects.filter(pk=agent.pk).update(is_active=False)

    run = eval_run_execute(
        workspace_id=str(tenant_a.workspace.pk), run_id=queued.json()["id"]
    )

    assert run is not None and run.status == "failed"
    assert run.error["code"] == "agent_inactive"


def test_evaluation_sets_are_private_to_their_workspace(tenant_a, tenant_b) -> None:  # type: ignore[no-untyped-def]
    documents = stock(tenant_a.workspace, {"a.md": "# A\n\nAlpha text."})
    foreign_agent = make_agent(tenant_b.workspace, "foreign")
    api = user_api(tenant_a.owner)
    base = f"/v1/workspaces/{tenant_a.workspace.pk}/eval-sets"
    created = api.post(
        base,
        {
            "name": "s",
            "questions": [
                {
                    "question": "alpha?",
                    "expected_document_ids": [str(documents["a.md"].pk)],
                }
            ],
        },
    ).json()
    outsider = key_for(tenant_b, scopes=("agents:read", "agents:write"))

    assert outsider.get(f"{base}/{created['id']}").status_code == 404
    foreign_base = f"/v1/workspaces/{tenant_b.workspace.pk}/eval-sets"
    assert outsider.get(f"{foreign_base}/{created['id']}").status_code == 404
    run_with_foreign_agent = api.post(
        f"{base}/{created['id']}/runs", {"agent_id": str(foreign_agent.pk)}
    )
    assert run_with_foreign_agent.status_code == 404


def test_bad_sets_are_refused(tenant_a) -> None:  # type: ignore[no-untyped-def]
    api = user_api(tenant_a.owner)
    base = f"/v1/workspaces/{tenant_a.workspace.pk}/eval-sets"

    for body in (
        {"name": "s", "questions": []},
        {"name": "s", "questions": [{"question": "q", "expected_document_ids": []}]},
        {"name": "s", "questions": [{"question": "q", "expected_document_ids": ["x"]}]},
    ):
        response = api.post(base, body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_request"
