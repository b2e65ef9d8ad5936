"""Re-seal every stored provider key with the newest encryption key.

``manage.py atrium_secrets_rotate`` re-seals these together with every
other stored secret (webhook signing secrets); this command does provider
keys alone. Run after putting a new key first in ``ATRIUM_ENCRYPTION_KEYS``.
"""

from __future__ import annotations

from tenancy import vault
from tenancy.management.commands.atrium_secrets_rotate import (
    Command as SecretsRotate,
)


class Command(SecretsRotate):
    help = "Re-encrypt organizations' provider keys with the newest key."
    kinds = ("provider keys",)

    def line(self, kind: str, counts: vault.Resealed) -> str:
        return str(counts)
