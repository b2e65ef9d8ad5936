#!/usr/bin/env bash
# Serve Atrium in development: the graph server and a Celery worker (with the
# beat scheduler embedded, for the sweeper and the nightly jobs) in the
# background, the web server in the foreground. Ctrl-C stops them all.
set -euo pipefail
host=${1:-127.0.0.1}
port=${2:-8000}
venv=.venv/bin

mkdir -p var/log
"${venv}/python" scripts/graph_server.py >var/log/graph.log 2>&1 &  # FalkorDB, supervised
graph=$!
"${venv}/celery" -A config worker -Q default,ingest,embed,graph \
  --concurrency 2 --loglevel INFO --beat --schedule var/celerybeat-schedule \
  >var/log/worker.log 2>&1 &
worker=$!
trap 'kill "${worker}" "${graph}" 2>/dev/null; wait 2>/dev/null || true' EXIT INT TERM

"${venv}/python" manage.py atrium_demo --show
echo "Celery worker: pid ${worker}, log in var/log/worker.log"
echo "Serving on http://${host}:${port}/  (admin: http://${host}:${port}/admin/)"
"${venv}/python" manage.py runserver "${host}:${port}" --noreload
