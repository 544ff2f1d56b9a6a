#!/bin/sh
# The roles of the playground image (docker-compose.yml runs each in its own
# container). Anything else is run as a command, e.g. `manage.py shell`.
set -eu

case "${1:-web}" in
  init)
    # Once per start of the stack, before the others: the migrations. Loading the
    # settings makes the secret key in SECRET_KEY_FILE (the shared volume) the
    # first time, unless SECRET_KEY is set.
    exec python manage.py migrate --noinput
    ;;
  web)
    exec daphne --bind 0.0.0.0 --port "${PORT:-8000}" playground.asgi:application
    ;;
  worker)
    exec celery --app playground worker --loglevel "${LOG_LEVEL:-INFO}" \
      --concurrency "${WORKER_CONCURRENCY:-2}" --without-gossip --without-mingle
    ;;
  ticker)
    exec python manage.py tick
    ;;
  *)
    exec "$@"
    ;;
esac
