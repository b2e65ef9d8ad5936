"""``flush`` as the schema owner: the runtime role may not TRUNCATE."""

from typing import Any

from django.core.management.commands.flush import Command as FlushCommand
from django.db import DEFAULT_DB_ALIAS

from tenancy.db import owner_connection


class Command(FlushCommand):
    def handle(self, **options: Any) -> None:
        using = options.get("database") or DEFAULT_DB_ALIAS
        with owner_connection(using):
            super().handle(**options)
