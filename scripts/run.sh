#!/usr/bin/env bash
# Serve Atrium in development: a Celery worker in the background, the web
# server in the foreground. Ctrl-C stops both.
set -euo pipefail
host=${1:-127.0.0.1}
port=${2:-8000}
venv=.venv/bin

mkdir -p var/log
"${venv}/python" scripts/graph_server.py >var/log/graph.log 2>&1 &  # FalkorDB, supervised
"${venv}/celery" -A config worker -Q default,ingest,embed,graph \
  --concurrency 2 --loglevel INFO >var/log/worker.log 2>&1 &
worker=$!
trap 'kill "${worker}" 2>/dev/null; wait "${worker}" 2>/dev/null || true' EXIT INT TERM

"${venv}/python" manage.py atrium_demo --show
echo "Celery worker: pid ${worker}, log in var/log/worker.log"
echo "Serving on http://${host}:${port}/  (admin: http://${host}:${port}/admin/)"
"${venv}/python" manage.py runserver "${host}:${port}" --noreload
