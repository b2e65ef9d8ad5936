"""Configuration selects Neo4j through Graphiti's own driver.

No Neo4j server can be obtained here (docs/graph.md), so this proves the
configuration path only: the backend setting picks ``Neo4jDriver`` with the
configured address, credentials and database, and the graph stage counts
as enabled. The group discipline is the same code for both backends and is
proven against FalkorDB (test_isolation.py).
"""

from __future__ import annotations

import asyncio

from graphiti_core.driver.neo4j_driver import Neo4jDriver

from knowledge.graph import graph_enabled
from knowledge.graph.backend import _driver, backend


def test_the_neo4j_backend_builds_graphitis_neo4j_driver(settings):
    settings.ATRIUM_GRAPH_BACKEND = "neo4j"
    settings.ATRIUM_GRAPH_URL = "bolt://graph.internal:7687"
    settings.ATRIUM_GRAPH_USERNAME = "atrium"
    settings.ATRIUM_GRAPH_PASSWORD = "not-a-real-password"
    settings.ATRIUM_GRAPH_NEO4J_DATABASE = "knowledge"

    driver = _driver("workspace_0123")
    try:
        assert backend() == "neo4j" and graph_enabled()
        assert isinstance(driver, Neo4jDriver)
        # One database for every workspace: the group is a filter there.
        assert driver._database == "knowledge"
        assert driver.client.encrypted is False  # bolt://, not bolt+s://
    finally:
        asyncio.run(driver.client.close())


def test_off_means_no_graph_stage(settings):
    settings.ATRIUM_GRAPH_BACKEND = "off"

    assert graph_enabled() is False
