#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests (CI and developers).
#
#   source .ci/postgres.sh start    # start one and export TESSERA_TEST_DATABASE_URL here
#                                   #   (name the subcommand: a sourced script otherwise
#                                   #   sees the sourcing script's own arguments)
#   source .ci/postgres.sh stop     # stop it, delete its directory, unset the variables
#
#   .ci/postgres.sh start           # start one; prints `export ...` lines, so
#   eval "$(.ci/postgres.sh start)" #   this also sets the variables in your shell
#   .ci/postgres.sh stop            # stop the cluster named by $TESSERA_PG_DIR (or the
#                                   #   last one this user started)
#   .ci/postgres.sh status
#
# The cluster lives in a fresh temporary directory (owned by the `postgres` user when
# run as root, since PostgreSQL refuses to run as root), listens on a free port on
# 127.0.0.1 only, keeps its unix socket in that directory, runs with fsync on and trusts
# loopback connections (it holds nothing but test data). It has one database,
# `tessera_test`:
#
#   TESSERA_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:<port>/tessera_test
#
# Also exported: TESSERA_PG_DIR (the cluster's directory), TESSERA_PG_BIN, TESSERA_PG_PORT.
# If `initdb` cannot be found, PostgreSQL is installed with apt-get (root or sudo).
#
# In CI (e.g. .ci/run):
#   source .ci/postgres.sh start
#   trap '.ci/postgres.sh stop' EXIT

_tpg_usage() {
    echo "usage: .ci/postgres.sh start|stop|status   (or: source .ci/postgres.sh [start|stop])" >&2
}

_tpg_log() {
    echo "postgres.sh: $*" >&2
}

# Where `stop` finds the last cluster when TESSERA_PG_DIR is not set.
_tpg_pointer() {
    echo "${TMPDIR:-/tmp}/tessera-pg.$(id -u).current"
}

_tpg_find_bindir() {
    local candidate dir
    if candidate="$(command -v initdb 2>/dev/null)" && [ -n "$candidate" ]; then
        candidate="$(readlink -f "$candidate")"
        dirname "$candidate"
        return 0
    fi
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir 2>/dev/null)"
        if [ -x "$dir/initdb" ]; then
            echo "$dir"
            return 0
        fi
    fi
    # Debian/Ubuntu keep the server binaries off PATH; take the newest version.
    dir="$(ls -d /usr/lib/postgresql/*/bin /usr/pgsql-*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        echo "$dir"
        return 0
    fi
    return 1
}

_tpg_install() {
    _tpg_log "initdb not found; installing PostgreSQL with apt-get"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo="sudo"
        else
            _tpg_log "not root and no sudo: install PostgreSQL (initdb, pg_ctl) yourself"
            return 1
        fi
    fi
    $sudo apt-get update >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y postgresql >&2
}

_tpg_free_port() {
    local port
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    port=$((20000 + RANDOM % 40000))
    while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        port=$((20000 + RANDOM % 40000))
    done
    echo "$port"
}

# Run a command as the cluster's owner: `postgres` when we are root, else ourselves.
_tpg_as_owner() {
    if [ "$(id -u)" -ne 0 ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- "$@"
    else
        su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
}

# Starts a cluster; writes the `export` lines to <dir>/env and prints the directory.
# Runs in a subshell (set -e) so a sourcing shell keeps its own options.
_tpg_start() (
    set -euo pipefail
    local bindir base dir port attempt started=""
    if ! bindir="$(_tpg_find_bindir)"; then
        _tpg_install
        bindir="$(_tpg_find_bindir)" || { _tpg_log "initdb still not found"; exit 1; }
    fi
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        _tpg_log "running as root but there is no 'postgres' user to own the cluster"
        exit 1
    fi

    base="${TMPDIR:-/tmp}"
    if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$base" 2>/dev/null; then
        base=/tmp # the postgres user must be able to reach the directory
    fi
    dir="$(mktemp -d "$base/tessera-pg.XXXXXX")"
    touch "$dir/.tessera-pg"
    mkdir "$dir/socket"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres: "$dir"
    fi
    chmod 700 "$dir"

    if ! _tpg_as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
        --locale=C --no-instructions >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        rm -rf "$dir"
        exit 1
    fi

    for attempt in 1 2 3 4 5; do
        port="$(_tpg_free_port)"
        if _tpg_as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port -k $dir/socket -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200" \
            start >/dev/null; then
            started=1
            break
        fi
        _tpg_log "start on port $port failed (attempt $attempt)"
    done
    if [ -z "$started" ]; then
        cat "$dir/server.log" >&2 || true
        rm -rf "$dir"
        exit 1
    fi

    if ! _tpg_as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -q -c "CREATE DATABASE tessera_test" >&2; then
        _tpg_as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$dir"
        exit 1
    fi

    {
        echo "export TESSERA_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$port/tessera_test"
        echo "export TESSERA_PG_DIR=$dir"
        echo "export TESSERA_PG_BIN=$bindir"
        echo "export TESSERA_PG_PORT=$port"
    } >"$dir/env"
    echo "$dir" >"$(_tpg_pointer)"
    _tpg_log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir"
    echo "$dir"
)

_tpg_resolve_dir() {
    local dir="${TESSERA_PG_DIR:-}"
    if [ -z "$dir" ] && [ -f "$(_tpg_pointer)" ]; then
        dir="$(cat "$(_tpg_pointer)")"
    fi
    echo "$dir"
}

_tpg_stop() (
    set -euo pipefail
    local dir bindir
    dir="$(_tpg_resolve_dir)"
    if [ -z "$dir" ] || [ ! -f "$dir/.tessera-pg" ]; then
        _tpg_log "no cluster to stop"
        exit 0
    fi
    bindir="$(sed -n 's/^export TESSERA_PG_BIN=//p' "$dir/env" 2>/dev/null || true)"
    [ -n "$bindir" ] || bindir="$(_tpg_find_bindir)"
    if [ -f "$dir/data/postmaster.pid" ]; then
        _tpg_as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null ||
            _tpg_as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null || true
    fi
    rm -rf "$dir"
    if [ "$(cat "$(_tpg_pointer)" 2>/dev/null || true)" = "$dir" ]; then
        rm -f "$(_tpg_pointer)"
    fi
    _tpg_log "stopped and removed $dir"
)

_tpg_status() {
    local dir
    dir="$(_tpg_resolve_dir)"
    if [ -n "$dir" ] && [ -f "$dir/env" ] && [ -f "$dir/data/postmaster.pid" ]; then
        cat "$dir/env"
        return 0
    fi
    _tpg_log "no cluster running"
    return 1
}

_tpg_main() {
    local sourced="$1" cmd="${2:-start}" dir
    case "$cmd" in
    start)
        dir="$(_tpg_start)" || return 1
        if [ "$sourced" = 1 ]; then
            # shellcheck disable=SC1091
            . "$dir/env"
            _tpg_log "exported TESSERA_TEST_DATABASE_URL=$TESSERA_TEST_DATABASE_URL"
        else
            cat "$dir/env"
        fi
        ;;
    stop)
        _tpg_stop || return 1
        if [ "$sourced" = 1 ]; then
            unset TESSERA_TEST_DATABASE_URL TESSERA_PG_DIR TESSERA_PG_BIN TESSERA_PG_PORT
        fi
        ;;
    status) _tpg_status ;;
    *)
        _tpg_usage
        return 2
        ;;
    esac
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    _tpg_main 1 "$@"
else
    _tpg_main 0 "$@"
    exit $?
fi
