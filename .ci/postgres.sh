#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on 127.0.0.1:54329 (loopback only, trust auth, data in /tmp) and write
# its DSN to /tmp/perflab-ci-pg.dsn for the query tests. Idempotent: a server already answering on the port
# is reused (never wiped), so running this twice is harmless.
set -euo pipefail
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
DATA=/tmp/perflab-ci-pg
PORT=54329
DSN_FILE=/tmp/perflab-ci-pg.dsn

as_owner() {  # initdb and pg_ctl refuse to run as root
    if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else bash -c "$*"; fi
}

if ! "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    if ! as_owner "$PGBIN/pg_ctl -D $DATA status" >/dev/null 2>&1; then
        rm -rf "$DATA"
        mkdir -p "$DATA"
        [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
        as_owner "$PGBIN/initdb -D $DATA -A trust -U postgres" >/dev/null
    fi
    as_owner "$PGBIN/pg_ctl -D $DATA -o '-c listen_addresses=127.0.0.1 -p $PORT -k /tmp' -l $DATA/log -w start" \
        >/dev/null
fi
for _ in $(seq 1 30); do  # wait until it accepts connections (at most ~15 s)
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
    sleep 0.5
done
psql -h 127.0.0.1 -p "$PORT" -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='perflab_test'" | grep -q 1 \
    || psql -h 127.0.0.1 -p "$PORT" -U postgres -c "CREATE DATABASE perflab_test" >/dev/null
echo "postgresql://postgres@127.0.0.1:$PORT/perflab_test" > "$DSN_FILE"
