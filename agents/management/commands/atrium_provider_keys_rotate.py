"""Re-seal every stored provider key with the newest encryption key.

``manage.py atrium_secrets_rotate`` re-seals these together with every
other stored secret (webhook signing secrets); this command does provider
keys alone. Run after putting a new key first in ``ATRIUM_ENCRYPTION_KEYS``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agents.services import provider_credentials_rotate
from tenancy import vault


class Command(BaseCommand):
    help = "Re-encrypt organizations' provider keys with the newest key."

    def handle(self, *args: Any, **options: Any) -> None:
        if not vault.keys_configured():
            raise CommandError(
                "No encryption key is configured (ATRIUM_ENCRYPTION_KEYS): "
                "nothing can be re-sealed."
            )
        # System work: it reads and writes only through the two doors of
        # agents migration 0005, with no principal; each swap commits alone.
        counts = provider_credentials_rotate()
        self.stdout.write(str(counts))
        if counts.broken:
            raise CommandError(
                "Some keys open with no configured encryption key; keep the old "
                "key listed, or have those organizations store their keys again."
            )
