"""The workspace settings page: who reads, who changes, who deletes."""

# Fixtures imported from tests/api/conftest.py are arguments of the same name.
# ruff: noqa: F811

from __future__ import annotations

import pytest

from knowledge.ingestion import chunking
from tenancy import forms
from tenancy.context import as_user
from tenancy.models import APIKey, AuditLog, Workspace
from tests.api.conftest import Api, World, world  # noqa: F401  (fixture)
from tests.dashboard.test_settings_support import (
    WORKSPACE_PERSONAS,
    browser,
    html,
    strict_templates,  # noqa: F401  (fixture)
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("strict_templates")]


def _url(workspace, suffix: str = "settings/") -> str:
    return f"/app/w/{workspace.pk}/{suffix}"


def _stored(world: World, workspace) -> Workspace:
    with as_user(world.users["owner"].pk):
        return Workspace.objects.get(pk=workspace.pk)


def _form(workspace: Workspace, **changes) -> dict:
    data = {
        "name": workspace.name,
        "slug": workspace.slug,
        "description": workspace.description,
        **{key: workspace.settings.get(key, "") for key in forms.SETTING_KEYS},
    }
    data.update(changes)
    return {k: "" if v is None else v for k, v in data.items()}


@pytest.mark.parametrize(("persona", "role"), WORKSPACE_PERSONAS.items())
def test_every_role_sees_the_settings_and_only_admins_may_change_them(
    world, persona, role
):
    page = html(browser(world, persona).get(_url(world.a1)))

    assert world.a1.name in page and "Chunk size" in page
    if role == "admin":
        assert "Save settings" in page and "Delete workspace" in page
        assert "disabled" not in page.split("Workspace settings</h1>")[1]
    else:
        assert "Save settings" not in page and "Delete workspace" not in page
        assert 'name="name"' in page and "disabled" in page
        assert "only workspace admins can change them" in page


@pytest.mark.parametrize("persona", ["outsider", "org_only", "newcomer"])
def test_people_outside_the_workspace_get_404(world, persona):
    client = browser(world, persona)

    assert client.get(_url(world.a1)).status_code == 404
    assert client.post(_url(world.a1), _form(world.a1, name="x")).status_code == 404
    assert (
        client.post(
            _url(world.a1, "settings/delete/"), {"confirm_name": world.a1.name}
        ).status_code
        == 404
    )
    assert _stored(world, world.a1).name == world.a1.name


def test_another_organizations_workspace_is_404_even_for_an_owner(world):
    client = browser(world, "owner")

    assert client.get(_url(world.b1)).status_code == 404
    assert client.post(_url(world.b1), _form(world.b1, name="Mine")).status_code == 404
    deleted = client.post(
        _url(world.b1, "settings/delete/"), {"confirm_name": world.b1.name}
    )
    assert deleted.status_code == 404
    with as_user(world.users["outsider"].pk):
        foreign = Workspace.objects.get(pk=world.b1.pk)
    assert foreign.name == world.b1.name and foreign.deleted_at is None


def test_anonymous_visitors_are_sent_to_log_in(world):
    response = browser(world, "anonymous").get(_url(world.a1))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_an_admin_changes_name_and_settings_through_workspace_update(world):
    with as_user(world.users["owner"].pk):
        Workspace.objects.filter(pk=world.a1.pk).update(
            settings={"chat_max_steps": 4, "kept_by_other_code": True}
        )
    workspace = _stored(world, world.a1)
    client = browser(world, "ws_admin")

    response = client.post(
        _url(world.a1),
        _form(
            workspace,
            name="Support knowledge",
            description="What the support team knows.",
            chunk_size=600,
            chunk_overlap=120,
            graph_budget_episodes=0,
            chat_max_steps=None,
        ),
    )

    assert response.status_code == 302 and response["Location"] == _url(world.a1)
    stored = _stored(world, world.a1)
    assert stored.name == "Support knowledge"
    assert stored.description == "What the support team knows."
    assert stored.settings == {
        "chunk_size": 600,
        "chunk_overlap": 120,
        "graph_budget_episodes": 0,
        "kept_by_other_code": True,
    }
    with as_user(world.users["owner"].pk):
        audit = AuditLog.objects.filter(
            workspace_id=world.a1.pk, action="workspace.updated"
        ).latest("created_at")
    assert audit.actor_user_id == world.users["ws_admin"].pk
    assert audit.metadata["fields"] == ["description", "name", "settings"]
    page = html(client.get(_url(world.a1)))
    assert "Workspace settings saved." in page and 'value="600"' in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"chunk_size": 50}, "chunk_size", "greater than or equal to 100"),
        ({"chunk_size": 9000}, "chunk_size", "less than or equal to 8000"),
        ({"chunk_size": 400, "chunk_overlap": 300}, "chunk_overlap", "half"),
        ({"chat_max_steps": 0}, "chat_max_steps", "greater than or equal to 1"),
        ({"graph_budget_episodes": "many"}, "graph_budget_episodes", "whole number"),
        ({"name": ""}, "name", "required"),
        ({"slug": "not a slug"}, "slug", "valid"),
    ],
)
def test_bad_values_are_refused_with_the_reason_and_nothing_is_stored(
    world, changes, field, message
):
    before = _stored(world, world.a1)

    response = browser(world, "owner").post(_url(world.a1), _form(before, **changes))

    assert response.status_code == 400
    page = html(response)
    assert f'id="id_{field}_error"' in page and message in page
    after = _stored(world, world.a1)
    assert (after.name, after.slug, after.settings) == (
        before.name,
        before.slug,
        before.settings,
    )


def test_a_slug_taken_in_the_organization_is_a_conflict(world):
    taken = _stored(world, world.a2).slug

    response = browser(world, "owner").post(
        _url(world.a1), _form(_stored(world, world.a1), slug=taken)
    )

    assert response.status_code == 400
    assert "already exists" in html(response)
    assert _stored(world, world.a1).slug != taken


@pytest.mark.parametrize("persona", ["org_member", "ws_viewer"])
def test_a_forged_change_by_a_member_or_viewer_is_refused(world, persona):
    client = browser(world, persona)
    workspace = _stored(world, world.a1)

    changed = client.post(_url(world.a1), _form(workspace, name="Taken over"))
    deleted = client.post(
        _url(world.a1, "settings/delete/"), {"confirm_name": workspace.name}
    )

    assert changed.status_code == 403 and deleted.status_code == 403
    stored = _stored(world, world.a1)
    assert stored.name == workspace.name and stored.deleted_at is None


def test_deleting_needs_the_name_typed_out(world):
    response = browser(world, "owner").post(
        _url(world.a1, "settings/delete/"), {"confirm_name": "workspace a"}
    )

    assert response.status_code == 400
    assert "nothing was deleted" in html(response)
    assert _stored(world, world.a1).deleted_at is None


def test_deleting_a_workspace_revokes_its_keys_at_once(world):
    key = world.keys["key_read"]
    assert Api(key.raw_key).get(f"/v1/workspaces/{world.a1.pk}/agents").status_code == (
        200
    )
    client = browser(world, "org_admin")

    response = client.post(
        _url(world.a1, "settings/delete/"), {"confirm_name": f" {world.a1.name} "}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/app/organizations/{world.org_a.pk}/"
    assert _stored(world, world.a1).deleted_at is not None
    with as_user(world.users["owner"].pk):
        assert not APIKey.objects.filter(workspace=world.a1, is_active=True).exists()
    after = Api(key.raw_key).get(f"/v1/workspaces/{world.a1.pk}/agents")
    assert after.status_code == 401
    assert client.get(_url(world.a1)).status_code == 404
    assert "deleted" in html(client.get(response["Location"]))


def test_the_forms_bounds_are_the_pipelines():
    assert forms.CHUNK_SIZE_DEFAULT == chunking.DEFAULT_CHUNK_SIZE
    assert forms.CHUNK_OVERLAP_DEFAULT == chunking.DEFAULT_CHUNK_OVERLAP
    assert forms.CHUNK_SIZE_MIN == chunking.MIN_CHUNK_SIZE
    assert forms.CHUNK_SIZE_MAX == chunking.MAX_CHUNK_SIZE
