#!/usr/bin/env bash
# Set up everything HazardWatch needs on a fresh Debian machine, idempotently.
#   scripts/setup.sh          the virtual environment and the page's chart library (npm ci): the demo
#   scripts/setup.sh test     plus mosquitto, chromium, victoria-metrics and prometheus (the
#                             /metrics scrape test) from Debian's packages,
#                             and the venvs of the third-party programs the input tests run
#                             (.venv-gateways: ThingsBoard IoT Gateway; .venv-sparkplug: an edge node)
set -euo pipefail
cd "$(dirname "$0")/.."

want="${1:-run}"
venv="${HW_VENV:-.venv}"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if [ "$want" = "test" ]; then
    apt_install mosquitto mosquitto-clients chromium fonts-wqy-zenhei victoria-metrics prometheus
fi

# The page's trend chart (uPlot), from package-lock.json; the app serves it from node_modules.
command -v npm >/dev/null 2>&1 || apt_install npm
lock_mark="node_modules/.lock-$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -f "$lock_mark" ]; then
    echo "setup: npm ci (the page's chart library)"
    npm ci --no-audit --no-fund --loglevel=error
    touch "$lock_mark"
fi

stamp="$venv/.hazardwatch-$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "setup: creating $venv with $("$python" --version)"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -r requirements.lock
    "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
    rm -f "$venv"/.hazardwatch-*
    touch "$stamp"
fi

# The third-party programs of the input tests pin what HazardWatch's venv cannot take (paho-mqtt
# 1.6, a forked paho, protobuf 3.20): each gets a venv of its own, from its own lock.
other_venv() {
    local dir="$1" lock="$2"
    local mark="$dir/.lock-$(sha256sum "$lock" | cut -c1-16)"
    [ -f "$mark" ] && return 0
    echo "setup: creating $dir from $lock"
    "$python" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip
    "$dir/bin/python" -m pip install -q -r "$lock"
    rm -f "$dir"/.lock-*
    touch "$mark"
}

if [ "$want" = "test" ]; then
    other_venv .venv-gateways requirements-gateways.lock
    other_venv .venv-sparkplug requirements-sparkplug.lock
fi
