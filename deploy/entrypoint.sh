#!/bin/sh
# Start one Atrium process from the production image; see the Dockerfile.
set -eu
role=${1:-web}
[ "$#" -gt 0 ] && shift

case "${role}" in
  web)
    # Metrics from several gunicorn workers are merged through this directory;
    # it must start empty (prometheus-client's multiprocess mode).
    rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}"/* 2>/dev/null || true
    exec gunicorn config.wsgi:application --config config/gunicorn.py "$@"
    ;;
  worker)
    queues=${1:-default}
    [ "$#" -gt 0 ] && shift
    exec celery -A config worker -Q "${queues}" \
      --concurrency "${ATRIUM_WORKER_CONCURRENCY:-2}" \
      --loglevel INFO "$@"
    ;;
  beat)
    exec celery -A config beat --loglevel INFO \
      --schedule /tmp/celerybeat-schedule "$@"
    ;;
  migrate)
    exec python manage.py migrate --no-input "$@"
    ;;
  manage)
    exec python manage.py "$@"
    ;;
  *)
    exec "${role}" "$@"
    ;;
esac
