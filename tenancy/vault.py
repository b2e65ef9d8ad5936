"""Encryption at rest of the secrets Atrium stores for its customers.

Organizations' provider keys and webhook endpoints' signing secrets are
sealed with Fernet (AES-128-CBC with HMAC-SHA256) under the keys of
``ATRIUM_ENCRYPTION_KEYS``, newest first. Any listed key opens a sealed
value, the first one seals, so rotation is: put a new key first, re-seal
what is stored (``manage.py atrium_provider_keys_rotate`` for provider
keys), then drop the old key.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from tenancy.errors import AtriumError


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


def hint(secret: str) -> str:
    """What may be shown of a key: its last four characters."""
    return f"…{secret[-4:]}" if len(secret) >= 12 else "…"
