#!/bin/sh
# First start of the PostgreSQL container: Atrium's three roles, its database
# and pgvector (docs/deployment.md, "Database roles").
set -eu
psql -v ON_ERROR_STOP=1 --username postgres \
  -v owner_password="${ATRIUM_OWNER_PASSWORD}" \
  -v app_password="${ATRIUM_APP_PASSWORD}" <<'SQL'
CREATE ROLE atrium_owner LOGIN CREATEDB PASSWORD :'owner_password';
CREATE ROLE atrium_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB PASSWORD :'app_password';
ALTER ROLE atrium_app SET plan_cache_mode = force_custom_plan;
ALTER ROLE atrium_app SET jit = off;
CREATE ROLE atrium_definer NOLOGIN BYPASSRLS;
GRANT atrium_definer TO atrium_owner;
CREATE DATABASE atrium OWNER atrium_owner;
\c atrium
CREATE EXTENSION IF NOT EXISTS vector;
SQL
