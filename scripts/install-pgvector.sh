#!/usr/bin/env bash
# Make sure the local PostgreSQL server has the pgvector extension.
#
# Debian 12 ships no pgvector package, so the extension is built from Debian's
# own pgvector source package (0.8.0, from the next release's sources) against
# the running server's headers. Skips everything when the extension is already
# installed, so a second run costs a few milliseconds.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-$(ls -d /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -n 1)}
if [ -z "${PG_CONFIG}" ] || [ ! -x "${PG_CONFIG}" ]; then
  echo "install-pgvector: no local PostgreSQL server found (pg_config missing); skipping" >&2
  exit 0
fi

sharedir=$("${PG_CONFIG}" --sharedir)
if [ -f "${sharedir}/extension/vector.control" ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-pgvector: building pgvector needs root (apt-get); run 'sudo make setup'" >&2
  exit 1
fi

pg_major=$("${PG_CONFIG}" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
version=${PGVECTOR_VERSION:-0.8.0-1}
mirror=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1 | awk '{print $2}')
mirror=${mirror:-http://deb.debian.org/debian}

echo "install-pgvector: building pgvector ${version} for PostgreSQL ${pg_major}"
export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s "postgresql-server-dev-${pg_major}" >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq "postgresql-server-dev-${pg_major}" make gcc dpkg-dev >/dev/null
fi

# A private apt state directory keeps the system's package lists untouched.
state=$(mktemp -d)
trap 'rm -rf "${state}"' EXIT
mkdir -p "${state}/lists/partial" "${state}/archives/partial"
echo "deb-src ${mirror} trixie main" > "${state}/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=${state}/sources.list" -o "Dir::Etc::SourceParts=-"
  -o "Dir::State::Lists=${state}/lists" -o "Dir::Cache::Archives=${state}/archives"
  -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update -qq
(cd "${state}" && apt-get "${apt_opts[@]}" source --download-only "pgvector=${version}" >/dev/null)

src=$(mktemp -d)
tar -xf "${state}"/pgvector_*.orig.tar.* -C "${src}" --strip-components=1
make -s -C "${src}" PG_CONFIG="${PG_CONFIG}" OPTFLAGS="" >/dev/null
make -s -C "${src}" PG_CONFIG="${PG_CONFIG}" install >/dev/null
rm -rf "${src}"
echo "install-pgvector: installed into ${sharedir}/extension"
