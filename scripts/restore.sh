#!/usr/bin/env bash
# Restore an Atrium backup made by scripts/backup.sh into an empty database.
#
#   scripts/restore.sh BACKUP_DIR TARGET_DATABASE_URL
#
# The target cluster must already have Atrium's roles (atrium_owner,
# atrium_app, atrium_definer): owners and grants are restored as they were,
# so row-level security and the definer functions work unchanged. Run as a
# superuser. Uploaded files go back to ATRIUM_MEDIA_ROOT.
set -euo pipefail
backup=${1:?usage: scripts/restore.sh BACKUP_DIR TARGET_DATABASE_URL}
target=${2:?usage: scripts/restore.sh BACKUP_DIR TARGET_DATABASE_URL}
media=${ATRIUM_MEDIA_ROOT:-var/media}

(cd "${backup}" && sha256sum --quiet --check SHA256SUMS)
pg_restore --exit-on-error --no-password --single-transaction \
  --dbname "${target}" "${backup}/database.dump"

if [[ -f "${backup}/media.tar.gz" ]]; then
  mkdir -p "${media}"
  tar -C "${media}" -xzf "${backup}/media.tar.gz"
fi
echo "restore: ${backup} -> database restored, files in ${media}"
