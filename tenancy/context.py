"""Who the database thinks is asking: the tenant context of a transaction.

Row-level security policies read three transaction-local settings:

- ``app.current_user_id``: a signed-in person; sees the workspaces they are a
  member of, every workspace of organizations they own or administer, and
  everything if they are active staff;
- ``app.current_api_key_id``: a workspace API key; sees its own workspace
  while the key is active;
- ``app.current_workspace_id``: system work (a Celery task, a sweeper) acting
  inside one workspace.

Each is set with ``set_config(…, true)``, so it ends with the transaction and
can never leak into the next request on a pooled or persistent connection.
Every block sets all three, so an anonymous block nested inside a signed-in
one sees nothing either.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, transaction


@dataclass(frozen=True)
class Principal:
    """The authenticated party of a request or task."""

    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    workspace_id: uuid.UUID | None = None
    # Not used by the database; carried for the API layer.
    api_key_workspace_id: uuid.UUID | None = None
    api_key_scopes: tuple[str, ...] = ()
    api_key_prefix: str = ""
    api_key_rate_limit: int = 0
    api_key_last_used: datetime | None = None
    is_test_key: bool = False

    @property
    def is_anonymous(self) -> bool:
        return not (self.user_id or self.api_key_id or self.workspace_id)

    @property
    def is_api_key(self) -> bool:
        return self.api_key_id is not None


ANONYMOUS = Principal()

_current: contextvars.ContextVar[Principal] = contextvars.ContextVar(
    "atrium_principal", default=ANONYMOUS
)

_SET_CONTEXT_SQL = (
    "SELECT set_config('app.current_user_id', %s, true),"
    " set_config('app.current_api_key_id', %s, true),"
    " set_config('app.current_workspace_id', %s, true)"
)


def _text(value: uuid.UUID | None) -> str:
    return "" if value is None else str(value)


def apply_principal(principal: Principal, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Set the tenant context of the current transaction to ``principal``."""
    connection = connections[using]
    if not connection.in_atomic_block:
        # Outside a transaction the setting would vanish at once (autocommit)
        # and the query would silently see nothing.
        raise RuntimeError("The tenant context can only be set inside atomic().")
    with connection.cursor() as cursor:
        cursor.execute(
            _SET_CONTEXT_SQL,
            [
                _text(principal.user_id),
                _text(principal.api_key_id),
                _text(principal.workspace_id),
            ],
        )


def current_principal() -> Principal:
    return _current.get()


@contextmanager
def as_principal(
    principal: Principal, *, using: str = DEFAULT_DB_ALIAS
) -> Iterator[Principal]:
    """Run the block in a transaction whose tenant context is ``principal``.

    Inside an existing transaction no savepoint is made: an error in the
    block rolls back the enclosing work too. Nested blocks restore the outer
    principal when they end.
    """
    outer = _current.get()
    token = _current.set(principal)
    try:
        with transaction.atomic(using=using, savepoint=False):
            apply_principal(principal, using=using)
            yield principal
    finally:
        _current.reset(token)
        connection = connections[using]
        if connection.in_atomic_block and not connection.needs_rollback:
            apply_principal(outer, using=using)


def as_user(
    user_id: uuid.UUID | str, *, using: str = DEFAULT_DB_ALIAS
) -> AbstractContextManager[Principal]:
    """Run the block as the signed-in user ``user_id``."""
    return as_principal(Principal(user_id=uuid.UUID(str(user_id))), using=using)


def as_workspace(
    workspace_id: uuid.UUID | str, *, using: str = DEFAULT_DB_ALIAS
) -> AbstractContextManager[Principal]:
    """Run the block as system work inside one workspace."""
    principal = Principal(workspace_id=uuid.UUID(str(workspace_id)))
    return as_principal(principal, using=using)


def as_anonymous(*, using: str = DEFAULT_DB_ALIAS) -> AbstractContextManager[Principal]:
    """Run the block with no principal: every tenant table reads as empty."""
    return as_principal(ANONYMOUS, using=using)


T = TypeVar("T")


def stream_as(principal: Principal, produce: Callable[[], Iterator[T]]) -> Iterator[T]:
    """Yield what ``produce()`` yields, inside a transaction as ``principal``.

    A streaming response body runs after the request's transaction has ended,
    so it needs its own context; pass this generator to the response. It
    holds one transaction for the whole stream: for long streams (model
    tokens), open short ``as_principal`` blocks around each database access
    instead.
    """
    with as_principal(principal):
        yield from produce()
