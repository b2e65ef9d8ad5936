"""Create Atrium's database roles, database and extension; safe to re-run.

Connects as a PostgreSQL superuser (DATABASE_ADMIN_URL, by default the local
``postgres`` user over TCP) and makes sure that:

- the owner role of DATABASE_OWNER_URL exists (LOGIN, CREATEDB) and owns the
  database;
- the runtime role of DATABASE_URL exists: LOGIN, not superuser, no
  BYPASSRLS, no CREATEDB — row-level security applies to it in full;
- the definer role (DATABASE_DEFINER_ROLE) exists: NOLOGIN with BYPASSRLS, it
  only owns the narrow SECURITY DEFINER functions the policies call, and the
  owner may hand functions to it;
- ``vector`` is installed in ``template1`` (so test databases have it) and in
  the database.

With no superuser reachable (a managed database), it checks that the runtime
role can connect and says what a database administrator must create.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

DEFAULTS = {
    "DATABASE_URL": "postgres://atrium_app@127.0.0.1:5432/atrium",
    "DATABASE_OWNER_URL": "postgres://atrium_owner@127.0.0.1:5432/atrium",
    "DATABASE_ADMIN_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "DATABASE_DEFINER_ROLE": "atrium_definer",
}


def setting(name: str) -> str:
    return os.environ.get(name) or DEFAULTS[name]


# Custom plans let a search match its workspace's own index; JIT compilation
# costs more than any of Atrium's queries (docs/search.md).
RUNTIME_SETTINGS = {"plan_cache_mode": "force_custom_plan", "jit": "off"}


def parts(url: str) -> dict[str, str]:
    split = urlsplit(url)
    return {
        "user": unquote(split.username or ""),
        "password": unquote(split.password or ""),
        "dbname": split.path.lstrip("/"),
    }


def ensure_role(cur: psycopg.Cursor, name: str, options: str, password: str) -> None:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
    verb = "ALTER" if cur.fetchone() else "CREATE"
    statement = sql.SQL(f"{verb} ROLE {{}} {options}").format(sql.Identifier(name))
    if password:
        statement += sql.SQL(" PASSWORD {}").format(sql.Literal(password))
    cur.execute(statement)


def ensure_extension(admin_url: str, dbname: str) -> None:
    with psycopg.connect(admin_url, dbname=dbname, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


def main() -> int:
    app = parts(setting("DATABASE_URL"))
    owner = parts(setting("DATABASE_OWNER_URL"))
    admin_url = setting("DATABASE_ADMIN_URL")
    definer = setting("DATABASE_DEFINER_ROLE")
    dbname = app["dbname"]

    try:
        conn = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError:
        print(
            "setup-db: no superuser connection (DATABASE_ADMIN_URL); assuming the "
            "database is prepared. A database administrator must create the "
            f"roles {owner['user']!r}, {app['user']!r} and {definer!r} and the "
            "vector extension as docs/deployment.md describes.",
            file=sys.stderr,
        )
        with psycopg.connect(setting("DATABASE_URL"), connect_timeout=5):
            return 0

    with conn, conn.cursor() as cur:
        ensure_role(cur, owner["user"], "LOGIN CREATEDB NOSUPERUSER", owner["password"])
        ensure_role(
            cur,
            app["user"],
            "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE",
            app["password"],
        )
        # The runtime's planner settings (config/settings/base.py) hold for the
        # role too, so they survive a pooler that drops connection options.
        for name, value in RUNTIME_SETTINGS.items():
            cur.execute(
                sql.SQL("ALTER ROLE {} SET {} = {}").format(
                    sql.Identifier(app["user"]),
                    sql.Identifier(name),
                    sql.Literal(value),
                )
            )
        ensure_role(cur, definer, "NOLOGIN NOSUPERUSER BYPASSRLS", "")
        cur.execute(
            sql.SQL("GRANT {} TO {}").format(
                sql.Identifier(definer), sql.Identifier(owner["user"])
            )
        )
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname])
        if cur.fetchone() is None:
            cur.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(dbname), sql.Identifier(owner["user"])
                )
            )
            print(f"setup-db: created database {dbname}")

    ensure_extension(admin_url, "template1")
    ensure_extension(admin_url, dbname)
    return 0


if __name__ == "__main__":
    sys.exit(main())
