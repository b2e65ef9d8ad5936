"""Staff find any tenant's objects in the admin; everyone else is kept out."""

from http import HTTPStatus

import pytest
from django.test import Client

from tenancy import services
from tenancy.context import as_user
from tests.support.tenants import add_agent, add_document, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stocked(tenant_a, tenant_b):
    with as_user(tenant_b.owner.pk):
        key = services.api_key_create(workspace=tenant_b.workspace, name="Ops key")
    document = add_document(tenant_b.workspace, "Quarterly plan", "text")
    agent = add_agent(tenant_b.workspace, "planner")
    return {"key": key, "document": document, "agent": agent, "tenant": tenant_b}


def staff_client():
    client = Client()
    client.force_login(make_user("staff", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    ("model", "search", "expected"),
    [
        ("tenancy/organization", lambda s: s["tenant"].organization.slug, "Org B"),
        ("tenancy/workspace", lambda s: "Workspace B", "Workspace B"),
        ("accounts/user", lambda s: s["tenant"].owner.email, "owner-b"),
        ("tenancy/apikey", lambda s: s["key"].api_key.prefix, "Ops key"),
        ("knowledge/document", lambda s: "Quarterly", "Quarterly plan"),
        ("agents/agent", lambda s: "planner", "Planner"),
    ],
)
def test_staff_find_objects_of_any_tenant(stocked, model, search, expected):
    response = staff_client().get(f"/admin/{model}/", {"q": search(stocked)})
    assert response.status_code == HTTPStatus.OK
    assert expected in response.content.decode()


def test_admin_never_shows_a_key_secret_or_hash(stocked):
    key = stocked["key"]
    response = staff_client().get(f"/admin/tenancy/apikey/{key.api_key.pk}/change/")
    body = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert key.api_key.prefix in body
    assert key.raw_key not in body and key.api_key.key_hash not in body


def test_customers_cannot_use_the_admin(stocked):
    client = Client()
    client.force_login(stocked["tenant"].owner)
    response = client.get("/admin/tenancy/organization/")
    assert response.status_code == HTTPStatus.FOUND
    assert "/admin/login/" in response["Location"]
