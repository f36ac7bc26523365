#!/usr/bin/env bash
# Everything the benchmarks need beside the project's own .venv (python3 -m venv .venv && .venv/bin/pip install -e '.[test]'):
# wrk and nginx (Debian) for bench/serve_wrk.py, lemon24/reader 3.27 in its own Python 3.12 venv for
# bench/scale_run.py, and py-spy (PyPI) for profiles. Not part of CI: no test needs them.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v wrk >/dev/null || ! { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; }; then
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q wrk nginx
fi
# The first Python 3.12+ that runs (a pyenv shim may exist and still refuse: "python3.12: command not found").
if [ -z "${PY312:-}" ]; then
    for c in python3.12 python3.13 /root/.pyenv/versions/3.12.*/bin/python /root/.pyenv/versions/3.13.*/bin/python; do
        if "$c" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then PY312="$c"; break; fi
    done
fi
: "${PY312:?no Python 3.12 or newer found (set PY312)}"
if [ ! -x .bench/reader-venv/bin/python ]; then
    "$PY312" -m venv .bench/reader-venv   # reader 3.27 needs Python >= 3.12
    .bench/reader-venv/bin/pip install -q 'reader==3.27'
fi
[ -x .venv/bin/py-spy ] || .venv/bin/pip install -q py-spy
echo "bench setup done"
