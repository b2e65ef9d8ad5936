"""Encryption at rest of the secrets Atrium stores for its customers.

Organizations' provider keys and webhook endpoints' signing secrets are
sealed with Fernet (AES-128-CBC with HMAC-SHA256) under the keys of
``ATRIUM_ENCRYPTION_KEYS``, newest first. Any listed key opens a sealed
value, the first one seals, so rotation is: put a new key first, re-seal
what is stored (``manage.py atrium_secrets_rotate``), then drop the old key.

Each app that stores sealed values registers how to re-seal its kind (from
``AppConfig.ready``, as tenancy cannot import the apps above it); the
command runs every registered kind.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import connection
from psycopg import sql

from tenancy.context import as_anonymous
from tenancy.errors import AtriumError

logger = logging.getLogger(__name__)


class EncryptionUnavailable(AtriumError):
    status = 409
    code = "encryption_unavailable"

    def __init__(self, what: str = "Secrets") -> None:
        super().__init__(
            f"{what} cannot be stored: no encryption key is configured "
            "(ATRIUM_ENCRYPTION_KEYS)."
        )


class SealBroken(Exception):
    """A sealed value no configured key opens (its key was dropped too soon)."""


def _keys(what: str = "Secrets") -> list[Fernet]:
    keys = [str(key).strip() for key in settings.ATRIUM_ENCRYPTION_KEYS if key]
    if not keys:
        raise EncryptionUnavailable(what)
    return [Fernet(key.encode()) for key in keys]


def _fernet(what: str = "Secrets") -> MultiFernet:
    return MultiFernet(_keys(what))


def seal(secret: str, *, what: str = "Secrets") -> str:
    """Encrypt ``secret`` with the newest key; ``what`` names it in errors."""
    return _fernet(what).encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str:
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise SealBroken() from None


def reseal(sealed: str) -> str | None:
    """The same secret sealed with the newest key; None if it already is."""
    newest = _keys()[0]
    try:
        newest.decrypt(sealed.encode())
        return None
    except InvalidToken:
        pass
    try:
        return _fernet().rotate(sealed.encode()).decode()
    except InvalidToken:
        raise SealBroken() from None


def keys_configured() -> bool:
    """Whether any encryption key is listed (nothing seals or opens without)."""
    return any(str(key).strip() for key in settings.ATRIUM_ENCRYPTION_KEYS if key)


def hint(secret: str) -> str:
    """What may be shown of a key: its last four characters."""
    return f"…{secret[-4:]}" if len(secret) >= 12 else "…"


# --- re-sealing what is stored -----------------------------------------------


@dataclass(frozen=True)
class Resealed:
    """What one pass over the stored values of one kind did."""

    resealed: int = 0
    unchanged: int = 0
    broken: int = 0

    def __str__(self) -> str:
        return (
            f"re-sealed {self.resealed}, already current {self.unchanged}, "
            f"unreadable {self.broken}"
        )


def reseal_stored(*, what: str, listing: str, swap: str) -> Resealed:
    """Re-seal every value a pair of narrow database functions exposes.

    ``listing()`` returns ``(id, sealed)`` rows across organizations;
    ``swap(id, old, new)`` stores ``new`` only where the value is still
    ``old`` and says whether it did, so a value replaced meanwhile (an admin
    stored a new secret, sealed anew) is left alone and counted as current.
    A value no configured key opens is counted as broken, logged by id
    (``what`` names the row) and never by value, and left as it is. Run with
    no principal; each swap commits on its own outside a transaction.
    """
    with as_anonymous(), connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT id, sealed FROM {}()").format(sql.Identifier(listing))
        )
        rows: list[tuple[uuid.UUID, str]] = cursor.fetchall()
    resealed = unchanged = broken = 0
    for row_id, sealed in rows:
        try:
            fresh = reseal(sealed)
        except SealBroken:
            broken += 1
            logger.error("%s %s: its sealed value opens with no key", what, row_id)
            continue
        if fresh is not None and _swap(swap, row_id, sealed, fresh):
            resealed += 1
        else:
            unchanged += 1
    logger.info(
        "%s re-sealed: %d, unchanged: %d, broken: %d",
        what,
        resealed,
        unchanged,
        broken,
    )
    return Resealed(resealed=resealed, unchanged=unchanged, broken=broken)


def _swap(function: str, row_id: uuid.UUID, old: str, new: str) -> bool:
    with as_anonymous(), connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT {}(%s, %s, %s)").format(sql.Identifier(function)),
            [row_id, old, new],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


Resealer = Callable[[], Resealed]

_resealers: dict[str, Resealer] = {}


def register_resealer(kind: str, resealer: Resealer) -> None:
    """Add a kind of stored sealed value (called from ``AppConfig.ready``)."""
    _resealers[kind] = resealer


def resealers() -> list[tuple[str, Resealer]]:
    return sorted(_resealers.items())
