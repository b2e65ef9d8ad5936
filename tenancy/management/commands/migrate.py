"""``migrate`` as the schema owner, then grant the runtime role its rights."""

from typing import Any

from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import DEFAULT_DB_ALIAS

from tenancy.db import grant_runtime_privileges, owner_connection


class Command(MigrateCommand):
    help = (
        "Apply migrations as the owner role (DATABASE_OWNER_URL) and grant the "
        "runtime role its table privileges."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        using = options.get("database") or DEFAULT_DB_ALIAS
        with owner_connection(using) as connection:
            super().handle(*args, **options)
            grant_runtime_privileges(connection)
