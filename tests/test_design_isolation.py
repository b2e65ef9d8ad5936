"""The original design's isolation tests (its section 13)."""

import pytest
from django.core.management import call_command

from knowledge.selectors import chunk_text_search
from tenancy import services
from tenancy.context import Principal, as_principal, as_user
from tests.support.tenants import add_agent, add_document, add_workspace

pytestmark = pytest.mark.django_db


def found_documents(workspace_id, query):
    return {
        c.document_id for c in chunk_text_search(workspace_id=workspace_id, query=query)
    }


def test_workspaces_of_one_organization_cannot_see_each_others_documents(tenant_a):
    first = tenant_a.workspace
    second = add_workspace(tenant_a, "Workspace 2")
    doc1 = add_document(first, "Secret 1", "Secret doc 1 about the merger")
    doc2 = add_document(second, "Secret 2", "Secret doc 2 about the merger")

    # Even the owner, who may see both, gets only the workspace asked for.
    with as_user(tenant_a.owner.pk):
        assert found_documents(first.pk, "secret") == {doc1.pk}
        assert found_documents(second.pk, "secret") == {doc2.pk}

    # A key of the first workspace cannot reach the second, even by asking.
    with as_user(tenant_a.owner.pk):
        key = services.api_key_create(workspace=first, name="k")
    with as_principal(Principal(api_key_id=key.api_key.pk)):
        assert found_documents(first.pk, "secret") == {doc1.pk}
        assert found_documents(second.pk, "secret") == set()


def test_agents_of_one_workspace_share_its_knowledge(tenant_a):
    agent1 = add_agent(tenant_a.workspace, "agent-1")
    agent2 = add_agent(tenant_a.workspace, "agent-2")
    doc = add_document(tenant_a.workspace, "Shared", "Shared knowledge for everyone")

    with as_user(tenant_a.owner.pk):
        assert found_documents(agent1.workspace_id, "shared") == {doc.pk}
        assert found_documents(agent2.workspace_id, "shared") == {doc.pk}


def test_demo_data_loads_once(settings, tmp_path):
    settings.ATRIUM_DEMO_CREDENTIALS = tmp_path / "demo.json"
    call_command("atrium_demo")
    first = (tmp_path / "demo.json").read_text()
    call_command("atrium_demo")

    from accounts.models import User
    from tenancy.models import Organization

    demo = User.objects.get(email="demo@atrium.local")
    with as_user(demo.pk):
        organization = Organization.objects.get(slug="acme")
        workspaces = organization.workspaces.all()
        counts = {
            w.slug: (w.documents.count(), w.agents.count(), w.document_count)
            for w in workspaces
        }
    assert counts == {"support": (3, 2, 3), "handbook": (1, 1, 1)}
    assert (tmp_path / "demo.json").read_text() == first
    assert oct((tmp_path / "demo.json").stat().st_mode & 0o777) == "0o600"
