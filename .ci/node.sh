#!/usr/bin/env bash
# Node.js and the packages of the gateway tests (tests/gateways/):
#
#   .ci/node.sh          # `make test` runs this
#   .ci/node.sh --apt    # .ci/run: first install nodejs and npm with apt-get if missing
#
# The pinned packages (tests/package-lock.json) need Node.js 22.15 or later. A `node` on
# PATH that new is used; otherwise Node 22's official binary is fetched with npm, from
# the registry's node-linux-<arch> package, into tests/.node/ (where the tests look
# first). Then the packages are installed (`npm ci --prefix tests`) unless they already
# are. Without npm nothing is installed, and the gateway tests are skipped, saying so
# (under CI=true they fail).
set -euo pipefail
cd "$(dirname "$0")/.."
LOCAL=tests/.node
STAMP=tests/node_modules/.installed

log() {
    echo "node.sh: $*" >&2
}

# Whether the node binary $1 is 22.15 or later.
new_enough() {
    [ -x "$1" ] && "$1" -e '
        const [major, minor] = process.versions.node.split(".").map(Number);
        process.exit(major > 22 || (major === 22 && minor >= 15) ? 0 : 1);' 2>/dev/null
}

if [ "${1:-}" = "--apt" ] && ! command -v npm >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { log "not root and no sudo: install nodejs and npm"; exit 1; }
        sudo="sudo"
    fi
    log "npm not found; installing nodejs and npm with apt-get"
    $sudo apt-get update >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y nodejs npm >&2
fi
if ! command -v npm >/dev/null 2>&1; then
    log "no npm found: the gateway tests are SKIPPED (install nodejs and npm)"
    exit 0
fi

system_node="$(command -v node || true)"
if ! new_enough "$LOCAL/bin/node" && ! new_enough "$system_node"; then
    case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *)
        log "no Node.js 22.15 or later, and no binary to fetch for $(uname -m)"
        exit 1
        ;;
    esac
    log "no Node.js 22.15 or later on PATH; fetching node-linux-$arch@22 into $LOCAL"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack "node-linux-$arch@22" --silent >/dev/null && tar xzf node-linux-*.tgz)
    rm -rf "$LOCAL"
    mv "$tmp/package" "$LOCAL"
    rm -rf "$tmp"
fi
if new_enough "$LOCAL/bin/node"; then
    export PATH="$PWD/$LOCAL/bin:$PATH"
fi

if [ ! -f "$STAMP" ] || [ tests/package-lock.json -nt "$STAMP" ] || [ tests/package.json -nt "$STAMP" ]; then
    # No install scripts: none of these packages needs one to work.
    npm ci --prefix tests --no-audit --no-fund --ignore-scripts
    touch "$STAMP"
fi
log "gateway tests use Node.js $(node --version)"
