#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on 127.0.0.1:54329 and export its DSN for the tests.
set -euo pipefail
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
DATA=/tmp/perflab-ci-pg
PORT=54329
if ! "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    rm -rf "$DATA"
    mkdir -p "$DATA"
    chown postgres:postgres "$DATA"
    su postgres -c "$PGBIN/initdb -D $DATA -A trust -U postgres" >/dev/null
    su postgres -c "$PGBIN/pg_ctl -D $DATA -o '-c listen_addresses=127.0.0.1 -p $PORT -k /tmp' -l $DATA/log -w start" >/dev/null
fi
psql -h 127.0.0.1 -p "$PORT" -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='perflab_test'" | grep -q 1 \
    || psql -h 127.0.0.1 -p "$PORT" -U postgres -c "CREATE DATABASE perflab_test" >/dev/null
echo "postgresql://postgres@127.0.0.1:$PORT/perflab_test" > /tmp/perflab-ci-pg.dsn
