"""Celery tasks set their own context; a worker carries nothing between tasks."""

import pytest

from knowledge.tasks import document_counts_refresh_all
from tenancy.context import as_user
from tenancy.models import Workspace
from tests.support.tasks import probe_in_workspace, probe_without_context
from tests.support.tenants import add_agent, add_document

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def run(task, worker, *args):
    return task.apply_async(args=args, queue=worker.queue).get(timeout=60)


def test_a_task_after_workspace_a_sees_nothing_of_a(
    celery_worker_process, tenant_a, tenant_b
):
    for tenant in (tenant_a, tenant_b):
        add_document(tenant.workspace, "Doc", "canary")
        add_agent(tenant.workspace, "helper")
    a = str(tenant_a.workspace.pk)

    inside = run(probe_in_workspace, celery_worker_process, a)
    after = run(probe_without_context, celery_worker_process)
    again = run(probe_in_workspace, celery_worker_process, str(tenant_b.workspace.pk))

    assert inside["documents"] == [a] and inside["agents"] == [a]
    # Same worker, same database session, nothing of A left behind.
    assert after["backend_pid"] == inside["backend_pid"]
    assert after["documents"] == [] and after["agents"] == [] and after["chunks"] == []
    assert again["documents"] == [str(tenant_b.workspace.pk)]


def test_system_job_acts_on_every_workspace_inside_its_own_context(
    celery_worker_process, tenant_a, tenant_b
):
    add_document(tenant_a.workspace, "One", "first")
    add_document(tenant_a.workspace, "Two", "second")
    add_document(tenant_b.workspace, "Three", "third")

    refreshed = run(document_counts_refresh_all, celery_worker_process)

    assert refreshed == 2
    for tenant, expected in ((tenant_a, 2), (tenant_b, 1)):
        with as_user(tenant.owner.pk):
            workspace = Workspace.objects.get(pk=tenant.workspace.pk)
        assert workspace.document_count == expected
