#!/usr/bin/env bash
# Node.js (20 or later) and npm for the gateway tests (tests/gateways/), in CI:
#
#   source .ci/node.sh    # install what is missing; a new enough `node` first on PATH
#
# Missing node or npm are installed with apt-get (root or sudo). A distribution's node
# older than 20 (Debian 12 ships 18; the gateways need 20) is left alone, and Node 20's
# official binary, from the npm registry's node-linux-<arch> package, goes first on PATH
# for this run. `make test` then installs tests/package-lock.json
# (`npm ci --prefix tests`).

_tnode_log() {
    echo "node.sh: $*" >&2
}

_tnode_major() {
    node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

_tnode_ensure() {
    local sudo="" arch dir
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        if [ "$(id -u)" -ne 0 ]; then
            if ! command -v sudo >/dev/null 2>&1; then
                _tnode_log "not root and no sudo: install nodejs and npm yourself"
                return 1
            fi
            sudo="sudo"
        fi
        _tnode_log "node or npm not found; installing nodejs and npm with apt-get"
        $sudo apt-get update >&2 &&
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y nodejs npm >&2 || return 1
    fi
    if [ "$(_tnode_major)" -lt 20 ]; then
        case "$(uname -m)" in
        x86_64) arch=x64 ;;
        aarch64) arch=arm64 ;;
        *)
            _tnode_log "Node.js $(node --version) is older than 20, and no binary for $(uname -m)"
            return 1
            ;;
        esac
        dir="${TMPDIR:-/tmp}/tessera-node.$(id -u)"
        if [ ! -x "$dir/package/bin/node" ]; then
            _tnode_log "Node.js $(node --version) is older than 20; fetching node-linux-$arch@20"
            rm -rf "$dir" && mkdir -p "$dir" &&
                (cd "$dir" && npm pack "node-linux-$arch@20" --silent >/dev/null &&
                    tar xzf node-linux-*.tgz) || return 1
        fi
        export PATH="$dir/package/bin:$PATH"
    fi
    _tnode_log "Node.js $(node --version), npm $(npm --version)"
}

_tnode_ensure
