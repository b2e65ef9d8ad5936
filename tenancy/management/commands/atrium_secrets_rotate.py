"""Re-seal every stored secret with the newest encryption key.

Run after putting a new key first in ``ATRIUM_ENCRYPTION_KEYS`` (on every
web and worker process); once it reports nothing unreadable, the old key can
be removed from the list. The app that stores each kind of sealed value
registers how to re-seal it (``tenancy.vault.register_resealer``): webhook
endpoints' signing secrets here, organizations' provider keys in agents.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenancy import vault


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the newest encryption key."
    # The registered kinds this command re-seals; None for every one.
    kinds: tuple[str, ...] | None = None

    def line(self, kind: str, counts: vault.Resealed) -> str:
        return f"{kind}: {counts}"

    def handle(self, *args: Any, **options: Any) -> None:
        if not vault.keys_configured():
            raise CommandError(
                "No encryption key is configured (ATRIUM_ENCRYPTION_KEYS): "
                "nothing can be re-sealed."
            )
        broken = []
        # No transaction around the pass: each swap commits on its own.
        for kind, resealer in vault.resealers():
            if self.kinds is not None and kind not in self.kinds:
                continue
            counts = resealer()
            self.stdout.write(self.line(kind, counts))
            if counts.broken:
                broken.append(f"{kind} {counts.broken}")
        if broken:
            raise CommandError(
                f"Some secrets open with no configured encryption key "
                f"({', '.join(broken)}; the log names them by id). Keep the old "
                "key listed, or replace them: rotate those webhook endpoints' "
                "secrets, have those organizations store their keys again."
            )
