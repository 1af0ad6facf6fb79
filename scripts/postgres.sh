#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, from Debian's packages.
#
#   scripts/postgres.sh start DIR   creates a cluster in DIR, starts it on a free port on 127.0.0.1
#                                    (unix socket in DIR too), creates a database and prints its
#                                    SQLAlchemy URL: postgresql+psycopg://maas@127.0.0.1:PORT/maas
#   scripts/postgres.sh stop DIR    stops the server whose PID file is in DIR, then removes DIR
#
# DIR must not exist yet or be empty. PostgreSQL refuses to run as root, so when run as root the
# server runs as the `postgres` user (created by the Debian package), which then owns DIR; DIR's
# parent folders must be traversable by that user (a folder under /tmp is).
# Authentication is `trust`: the cluster is private to one test run and listens on loopback only.
# If the server binaries are missing, they are installed with apt-get (CI starts from a clean machine).
set -euo pipefail

DB_USER=maas
DB_NAME=maas

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

find_bindir() {
    local initdb
    initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$initdb" ] && dirname "$initdb"
}

ensure_binaries() {
    BINDIR=$(find_bindir || true)
    if [ -z "$BINDIR" ]; then
        [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed and installing it needs root: apt-get install -y postgresql"
        log "installing Debian's postgresql package"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >&2
        # The package's own "main" cluster (port 5432, started where an init system allows) is not
        # wanted: postgresql-common first, told not to create it, then the server.
        apt-get install -y -q postgresql-common >&2
        echo "create_main_cluster = false" >>/etc/postgresql-common/createcluster.conf
        apt-get install -y -q postgresql >&2
        BINDIR=$(find_bindir || true)
        [ -n "$BINDIR" ] || die "apt-get install postgresql finished but no /usr/lib/postgresql/*/bin/initdb exists"
    fi
}

# Run a command as the user that owns the cluster (the `postgres` user when we are root).
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        (cd "$DIR" && runuser -u "$OWNER" -- "$@")
    else
        (cd "$DIR" && "$@")
    fi
}

free_port() {
    # Ask the kernel for a free loopback port; the server binds it a moment later (retried below if taken).
    python3 - <<'EOF' 2>/dev/null || echo $(( 20000 + RANDOM % 40000 ))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

start() {
    ensure_binaries
    mkdir -p "$DIR"
    [ -z "$(ls -A "$DIR")" ] || die "$DIR is not empty"
    DIR=$(cd "$DIR" && pwd)
    if [ "$(id -u)" = 0 ]; then
        OWNER=postgres
        id -u "$OWNER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$OWNER"
        chown "$OWNER": "$DIR"
        chmod 700 "$DIR"
        runuser -u "$OWNER" -- test -w "$DIR" \
            || die "user $OWNER cannot reach $DIR (a parent folder is closed to it); use a folder under /tmp"
    else
        OWNER=$(id -un)
    fi

    # Any failure from here on leaves no server behind (the caller still owns DIR and removes it).
    trap '[ -n "${STARTED:-}" ] || stop_server || true' EXIT

    as_owner "$BINDIR/initdb" -D "$DIR/data" -U "$DB_USER" --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    # A throwaway cluster: durability across an OS crash is not under test, speed is welcome.
    cat >>"$DIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
EOF

    local port="" attempt
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        if as_owner "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -o "-p $port" -w -t 60 start >/dev/null; then
            break
        fi
        log "start on port $port failed (attempt $attempt); server log:"
        port=""
        tail -n 5 "$DIR/server.log" >&2 || true
    done
    [ -n "$port" ] || die "the server did not start; see $DIR/server.log"
    echo "$port" >"$DIR/port"

    as_owner "$BINDIR/createdb" -h 127.0.0.1 -p "$port" -U "$DB_USER" "$DB_NAME"
    STARTED=1
    local url="postgresql+psycopg://$DB_USER@127.0.0.1:$port/$DB_NAME"
    echo "$url" >"$DIR/url"
    echo "$url"
}

stop_server() {
    local pidfile="$DIR/data/postmaster.pid" pid
    [ -f "$pidfile" ] || return 0
    pid=$(head -n 1 "$pidfile")
    [ -n "$pid" ] || return 0
    # Fast shutdown: disconnects clients, rolls back, stops. Only the PID in our own PID file is signalled.
    kill -INT "$pid" 2>/dev/null || return 0
    local i
    for i in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    log "server $pid did not stop after SIGINT; sending SIGQUIT"
    kill -QUIT "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

stop() {
    [ -d "$DIR" ] || return 0
    DIR=$(cd "$DIR" && pwd)
    stop_server
    rm -rf "$DIR"
}

[ $# -eq 2 ] || die "usage: $0 start|stop DIR"
DIR=$2
case "$1" in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 start|stop DIR" ;;
esac
