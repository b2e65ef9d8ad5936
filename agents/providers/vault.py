"""Encryption at rest of the provider keys organizations store.

Keys are sealed with Fernet (AES-128-CBC with HMAC-SHA256) under the keys
of ``ATRIUM_ENCRYPTION_KEYS``, newest first. Any listed key opens a sealed
value, the first one seals, so rotation is: put a new key first, run
``manage.py atrium_provider_keys_rotate`` to re-seal every stored value
with it, then drop the old key.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from tenancy.errors import AtriumError


class EncryptionUnavailable(AtriumError):
    status = 409
    code = "encryption_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "Provider credentials cannot be stored: no encryption key is "
            "configured (ATRIUM_ENCRYPTION_KEYS)."
        )


class SealBroken(Exception):
    """A sealed value no configured key opens (its key was dropped too soon)."""


def _keys() -> list[Fernet]:
    keys = [str(key).strip() for key in settings.ATRIUM_ENCRYPTION_KEYS if key]
    if not keys:
        raise EncryptionUnavailable()
    return [Fernet(key.encode()) for key in keys]


def _fernet() -> MultiFernet:
    return MultiFernet(_keys())


def seal(secret: str) -> str:
    """Encrypt ``secret`` with the newest key."""
    return _fernet().encrypt(secret.encode()).decode()


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
