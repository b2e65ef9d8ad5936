"""Bad input gets a 4xx with a stable code, never a 500, and changes nothing."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tenancy.context import as_user
from tenancy.models import Workspace

pytestmark = pytest.mark.django_db


def test_malformed_json(world):
    response = world.api("owner").call(
        "PATCH", f"/v1/workspaces/{world.a1.pk}", None,
        data="{not json", content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_wrong_types_and_unknown_fields_are_reported_per_field(world):
    api = world.api("owner")
    wrong = api.post(
        f"/v1/workspaces/{world.a1.pk}/agents",
        {"name": ["x"], "system_prompt": "p", "temperature": "hot"},
    )
    unknown = api.patch(f"/v1/workspaces/{world.a1.pk}", {"owner": "me"})
    not_object = api.patch(f"/v1/workspaces/{world.a1.pk}", ["a", "list"])

    assert wrong.status_code == 400
    assert set(wrong.json()["error"]["details"]) == {"name", "temperature"}
    assert unknown.status_code == 400
    assert unknown.json()["error"]["details"] == {"owner": ["Unknown field."]}
    assert not_object.status_code == 400


def test_out_of_range_values(world):
    api = world.api("owner")
    response = api.post(
        f"/v1/workspaces/{world.a1.pk}/agents",
        {"name": "X", "system_prompt": "p", "temperature": 5,
         "enabled_tools": ["rm_rf"]},
    )  # fmt: skip
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"temperature", "enabled_tools"}


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_oversized_bodies_answer_413(world):
    response = world.api("owner").patch(
        f"/v1/workspaces/{world.a1.pk}", {"description": "x" * 5000}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/workspaces/not-a-uuid",
        "/v1/workspaces/12345678-1234-1234-1234-1234567890zz/agents",
        "/v1/nothing-here",
    ],
)
def test_bad_ids_and_unknown_paths_answer_json_404(world, path):
    response = world.api("owner").get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unsupported_methods_answer_405(world):
    response = world.api("owner").call("PUT", f"/v1/workspaces/{world.a1.pk}", {})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_a_failed_request_changes_nothing(world):
    api = world.api("owner")
    response = api.patch(
        f"/v1/workspaces/{world.a1.pk}", {"name": "Renamed", "slug": "not a slug!"}
    )
    assert response.status_code == 400
    with as_user(world.users["owner"].pk):
        assert Workspace.objects.get(pk=world.a1.pk).name == world.a1.name


def test_nul_characters_are_refused_not_stored(world):
    api = world.api("owner")
    response = api.patch(
        f"/v1/workspaces/{world.a1.pk}", {"settings": {"k\x00": "v"}, "name": "N"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "settings": ["NUL characters are not allowed."]
    }
