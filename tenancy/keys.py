"""Workspace API keys: format, checksum and hashing.

A key reads ``atr_live_<body><checksum>`` (or ``atr_test_…``): 32 base62
characters from the operating system's CSPRNG (about 190 bits), then a
6-character base62 CRC32 of everything before it. The checksum lets a typo or
a made-up key be refused before any database lookup, and lets secret scanners
recognise real keys. The row stores the public ``prefix`` (the environment
marker and the first 8 body characters) and a SHA-256 digest of the key; the
key itself is shown once and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib
from dataclasses import dataclass

from django.conf import settings

ALPHABET = string.digits + string.ascii_letters
BODY_LENGTH = 32
CHECKSUM_LENGTH = 6
LOOKUP_LENGTH = 8


@dataclass(frozen=True)
class ParsedKey:
    raw: str
    environment: str
    prefix: str


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits))


def _checksum(text: str) -> str:
    return _base62(zlib.crc32(text.encode()), CHECKSUM_LENGTH)


def _pattern() -> re.Pattern[str]:
    vendor = re.escape(settings.ATRIUM_API_KEY_PREFIX)
    return re.compile(
        rf"^{vendor}_(live|test)_([0-9A-Za-z]{{{BODY_LENGTH}}})"
        rf"([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})$"
    )


def generate(environment: str) -> ParsedKey:
    """Make a new random key for ``environment`` ("live" or "test")."""
    if environment not in ("live", "test"):
        raise ValueError(f"Unknown key environment: {environment!r}")
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    stem = f"{settings.ATRIUM_API_KEY_PREFIX}_{environment}_{body}"
    raw = stem + _checksum(stem)
    parsed = parse(raw)
    assert parsed is not None  # a generated key always parses
    return parsed


def parse(raw: str) -> ParsedKey | None:
    """Return the key's parts, or None if it is malformed or fails its checksum."""
    match = _pattern().match(raw)
    if match is None:
        return None
    environment, body, checksum = match.groups()
    stem = raw[:-CHECKSUM_LENGTH]
    if not hmac.compare_digest(_checksum(stem), checksum):
        return None
    prefix = f"{settings.ATRIUM_API_KEY_PREFIX}_{environment}_{body[:LOOKUP_LENGTH]}"
    return ParsedKey(raw=raw, environment=environment, prefix=prefix)


def looks_like_key(raw: str) -> bool:
    """True if ``raw`` carries Atrium's key prefix (valid or not)."""
    vendor = settings.ATRIUM_API_KEY_PREFIX
    return raw.startswith((f"{vendor}_live_", f"{vendor}_test_"))


def digest(raw: str) -> str:
    """SHA-256 of the key: a fast hash suits 190 random bits."""
    return hashlib.sha256(raw.encode()).hexdigest()


def matches(raw: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(raw), stored_digest)
