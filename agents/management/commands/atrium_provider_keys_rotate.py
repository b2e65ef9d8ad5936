"""Re-seal every stored provider key with the newest encryption key.

Run after putting a new key first in ``ATRIUM_ENCRYPTION_KEYS``; once it
reports nothing broken, the old key can be removed from the list.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from agents.services import provider_credentials_rotate
from tenancy.context import as_anonymous


class Command(BaseCommand):
    help = "Re-encrypt organizations' provider keys with the newest key."

    def handle(self, *args: Any, **options: Any) -> None:
        # System work: it reads and writes only through the two doors of
        # agents migration 0005, with no principal.
        with transaction.atomic(), as_anonymous():
            counts = provider_credentials_rotate()
        self.stdout.write(
            "re-sealed {resealed}, already current {unchanged}, "
            "unreadable {broken}".format(**counts)
        )
        if counts["broken"]:
            raise CommandError(
                "Some keys open with no configured encryption key; keep the old "
                "key listed, or have those organizations store their keys again."
            )
