"""The OpenAPI schema and the interactive docs, served offline by the app."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from config.api_urls import urlpatterns

pytestmark = pytest.mark.django_db


def test_schema_documents_every_endpoint_with_auth_and_errors():
    response = Client().get("/v1/schema/?format=json")
    document = response.json()
    assert response.status_code == 200
    assert document["openapi"].startswith("3.")

    documented = set(document["paths"])
    routes = {
        "/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(p.pattern))
        for p in urlpatterns
        if not str(p.pattern).endswith("/")
    }
    assert routes <= documented

    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerAuth"]["scheme"] == "bearer"
    keys_create = document["paths"]["/v1/workspaces/{workspace_id}/api-keys"]["post"]
    assert {"400", "401", "403", "404", "429"} <= set(keys_create["responses"])
    example = keys_create["responses"]["404"]["content"]["application/json"]
    assert example["examples"]


def test_interactive_docs_load_their_assets_from_the_app_itself():
    page = Client().get("/v1/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn." not in page and "unpkg" not in page


def test_each_operation_says_who_may_call_it():
    document = Client().get("/v1/schema/?format=json").json()
    agents = document["paths"]["/v1/workspaces/{workspace_id}/agents"]
    assert "`agents:write` scope" in agents["post"]["description"]
    assert "**member** role" in agents["post"]["description"]
    keys = document["paths"]["/v1/workspaces/{workspace_id}/api-keys"]["post"]
    assert "**admin** role" in keys["description"]
    assert "API key" not in keys["description"].split("Who may call:")[1]
