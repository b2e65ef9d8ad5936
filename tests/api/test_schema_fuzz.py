"""Schema-driven fuzzing of the live API.

Every operation of the OpenAPI schema is called with generated input by the
owner of organization A, with the path pointing at A's real objects; the
same request is then replayed with the owner of organization B. The run
must find no 5xx, and no replay may succeed: another tenant's object is
always 404 (or refused earlier).
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, settings
from rest_framework.utils.encoders import JSONEncoder

from tests.api.conftest import World

pytestmark = pytest.mark.django_db(transaction=True)

GENEROUS_LIMITS = {
    "free": 100_000,
    "starter": 100_000,
    "pro": 100_000,
    "enterprise": 100_000,
}


def _openapi() -> dict:  # type: ignore[type-arg]
    # The same document /v1/schema/ serves, generated without a request so it
    # can parametrize the tests at collection time.
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(json.dumps(document, cls=JSONEncoder))


schema = schemathesis.openapi.from_dict(_openapi())


def real_ids(world: World) -> dict[str, str]:
    return {
        "organization_id": str(world.org_a.pk),
        "workspace_id": str(world.a1.pk),
        "agent_id": str(world.agents["a1"].pk),
        "key_id": str(world.keys["key_read"].api_key.pk),
        "user_id": str(world.users["ws_viewer"].pk),
    }


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
@override_settings(
    ATRIUM_PLAN_RATE_LIMITS=GENEROUS_LIMITS, ATRIUM_USER_RATE_LIMIT=100_000
)
def test_no_server_errors_and_no_cross_tenant_success(case, world, live_server):
    if case.path_parameters:
        ids = real_ids(world)
        case.path_parameters = {
            name: ids.get(name, value) for name, value in case.path_parameters.items()
        }
    owner = {"Authorization": f"Bearer {world.api('owner').credential}"}
    outsider = {"Authorization": f"Bearer {world.api('outsider').credential}"}
    scoped = "{" in case.operation.path and "/auth/" not in case.operation.path

    response = case.call(base_url=live_server.url, headers=owner)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)

    if scoped:
        replay = case.call(base_url=live_server.url, headers=outsider)
        assert replay.status_code < 500
        assert not 200 <= replay.status_code < 300, (
            case.method,
            case.formatted_path,
            replay.status_code,
        )
