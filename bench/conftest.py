"""Benchmarks share the test suite's database set-up and fixtures."""

from tests.conftest import django_db_setup, tenant_a, tenant_b  # noqa: F401

RESULTS_DIR = "var/bench"
