# One image for every role of the playground: web (Daphne), worker (Celery),
# ticker and the one-shot migrate/init step. docker-compose.yml says which runs.
# The base image is a build argument so a mirror or a stand-in can replace it.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBUG=false \
    PLAYGROUND_STATIC_COLLECTED=true

WORKDIR /app

# Dependencies first, from pyproject.toml alone: a code change keeps this layer.
COPY pyproject.toml README.md ./
RUN pip install --no-cache-dir .

COPY manage.py ./
COPY broker ./broker
COPY playground ./playground
COPY templates ./templates
COPY static ./static
COPY docker/entrypoint.sh /usr/local/bin/playground-entrypoint

# Static files are collected at build time and served by WhiteNoise (hashed names,
# compressed); the throwaway key only lets settings load for this step.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v 0 \
    && useradd --create-home --uid 10001 playground \
    && mkdir -p /var/lib/playground \
    && chown playground:playground /var/lib/playground

USER playground
# Where the secret key is made on first start, unless SECRET_KEY is set (the image's own
# directory is not writable by this user).
ENV SECRET_KEY_FILE=/var/lib/playground/secret_key
EXPOSE 8000
ENTRYPOINT ["playground-entrypoint"]
CMD ["web"]
