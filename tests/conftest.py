"""Fixtures shared by the whole suite.

Tests run against the real PostgreSQL as the runtime role, so row-level
security applies to them exactly as to the product; only the test database's
creation, migrations and flushes run as the owner.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.tenants import Tenant, make_tenant


@pytest.fixture(scope="session")
def django_db_setup(  # overrides pytest-django's, to set up as the owner role
    request: pytest.FixtureRequest,
    django_test_environment: None,
    django_db_blocker,  # type: ignore[no-untyped-def]
    django_db_keepdb: bool,
    django_db_createdb: bool,
) -> Iterator[None]:
    from django.core.management import call_command
    from django.test.utils import setup_databases, teardown_databases

    from tenancy.db import owner_connection

    keepdb = django_db_keepdb and not django_db_createdb
    with django_db_blocker.unblock(), owner_connection():
        config = setup_databases(verbosity=0, interactive=False, keepdb=keepdb)
        # Every run starts from empty tables: a reused database may hold rows
        # an interrupted run committed, and a new one holds the rows data
        # migrations seed (the plans), which tests create as they need them.
        call_command("flush", interactive=False, verbosity=0)
    yield
    if not keepdb:
        with django_db_blocker.unblock(), owner_connection():
            teardown_databases(config, verbosity=0)


@pytest.fixture(autouse=True)
def _private_media_root(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Uploaded files of a test land in its own directory, never in var/."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def tenant_a(db: None) -> Tenant:
    """An organization owner with one workspace."""
    return make_tenant("a")


@pytest.fixture
def tenant_b(db: None) -> Tenant:
    """An outsider: another organization, another workspace."""
    return make_tenant("b")


pytest_plugins = ["tests.support.worker", "tests.support.browser", "tests.support.s3"]
