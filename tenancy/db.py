"""Database roles: the runtime role for everything, the owner for schema work.

The runtime role (``DATABASE_URL``) is subject to row-level security and owns
no table. Only schema work — migrations and the test suite's flushes — runs as
the owner (``DATABASE_OWNER_URL``), through :func:`owner_connection`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

_CREDENTIAL_KEYS = ("USER", "PASSWORD", "HOST", "PORT")


@contextmanager
def owner_connection(using: str = DEFAULT_DB_ALIAS) -> Iterator[BaseDatabaseWrapper]:
    """Reconnect ``using`` as the schema owner for the block, then switch back."""
    connection = connections[using]
    owner = settings.DATABASE_OWNER
    saved = {key: connection.settings_dict.get(key) for key in _CREDENTIAL_KEYS}
    wanted = {key: owner.get(key, saved[key]) for key in _CREDENTIAL_KEYS}
    if wanted == saved:
        yield connection
        return

    connection.close()
    connection.settings_dict.update(wanted)
    try:
        yield connection
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def grant_runtime_privileges(connection: BaseDatabaseWrapper) -> None:
    """Give the runtime role what it needs on the tables, and nothing more.

    It reads and writes rows (row-level security decides which), may not
    change the migration history, and may only append to the audit log.
    """
    role = connection.ops.quote_name(settings.DATABASE_APP_ROLE)
    with connection.cursor() as cursor:
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cursor.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public"
            f" TO {role}"
        )
        cursor.execute(
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"
        )
        cursor.execute(
            f"REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {role}"
        )
        cursor.execute(f"REVOKE UPDATE, DELETE ON audit_log FROM {role}")
