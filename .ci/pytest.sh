#!/usr/bin/env bash
# `make test`'s test step: pytest, with the PostgreSQL half of the suite whenever it can
# run. A given TESSERA_TEST_DATABASE_URL is used as is; otherwise, if the PostgreSQL
# server binaries exist, a throwaway cluster is started for this run and stopped after.
# Without either, the PostgreSQL tests are skipped, loudly; under CI=true they fail. The
# GraphiQL browser test likewise, without Debian's chromium.
set -uo pipefail
cd "$(dirname "$0")/.."
pytest="${1:-.venv/bin/pytest}"
shift || true

if [ -z "${TESSERA_TEST_DATABASE_URL:-}" ]; then
    if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        # shellcheck source=postgres.sh
        source .ci/postgres.sh start || exit 1
        trap '.ci/postgres.sh stop' EXIT
    elif [ "${CI:-}" = "true" ]; then
        echo "make test: CI=true but no PostgreSQL: install it or set TESSERA_TEST_DATABASE_URL" >&2
        exit 1
    else
        echo "make test: no PostgreSQL found; the PostgreSQL half of the suite is SKIPPED" >&2
        echo "           (install postgresql or set TESSERA_TEST_DATABASE_URL)" >&2
    fi
fi
if ! command -v node >/dev/null 2>&1 || [ ! -d tests/clients/node_modules ]; then
    if [ "${CI:-}" = "true" ]; then
        echo "make test: CI=true but no Node.js or tests/clients/node_modules" >&2
        exit 1
    fi
    echo "make test: no Node.js or tests/clients/node_modules; the client tests are SKIPPED" >&2
    echo "           (install nodejs and npm, then: npm ci --prefix tests/clients)" >&2
fi
if [ "${CI:-}" != "true" ] && ! command -v chromium >/dev/null 2>&1; then
    echo "make test: no chromium found; the GraphiQL browser test is SKIPPED" >&2
    echo "           (apt-get install chromium)" >&2
fi
"$pytest" "$@"
