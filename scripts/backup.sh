#!/usr/bin/env bash
# Back up Atrium: the database (custom-format pg_dump), uploaded files, and
# the development FalkorDB graph when it runs here. docs/backup.md.
#
#   scripts/backup.sh DEST_DIR
#
# DATABASE_BACKUP_URL must name a superuser or a role with BYPASSRLS: the
# tables force row-level security, so any other role would dump no rows.
set -euo pipefail
dest=${1:?usage: scripts/backup.sh DEST_DIR}
url=${DATABASE_BACKUP_URL:-postgres://postgres@127.0.0.1:5432/atrium}
media=${ATRIUM_MEDIA_ROOT:-var/media}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="${dest}/atrium-${stamp}"
mkdir -p "${out}"

# One consistent snapshot of every table, with owners, grants, policies and
# the definer functions; restored with scripts/restore.sh.
pg_dump --format=custom --compress=6 --no-password --file "${out}/database.dump" "${url}"

if [[ -d "${media}" ]]; then
  tar -C "${media}" -czf "${out}/media.tar.gz" .
fi

# The development graph server keeps an append-only file; copy it after a
# rewrite so the copy is complete. (Neo4j: use neo4j-admin database dump.)
if [[ -n "${ATRIUM_GRAPH_DATA_DIR:-}" && -d "${ATRIUM_GRAPH_DATA_DIR}" ]]; then
  tar -C "${ATRIUM_GRAPH_DATA_DIR}" -czf "${out}/graph.tar.gz" .
fi

(cd "${out}" && sha256sum -- * > SHA256SUMS)
echo "backup: ${out}"
