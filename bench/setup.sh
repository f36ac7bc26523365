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
PY312="${PY312:-$(command -v python3.12 || echo /root/.pyenv/versions/3.12.1/bin/python)}"
if [ ! -x .bench/reader-venv/bin/python ]; then
    "$PY312" -m venv .bench/reader-venv   # reader 3.27 needs Python >= 3.12
    .bench/reader-venv/bin/pip install -q 'reader==3.27'
fi
[ -x .venv/bin/py-spy ] || .venv/bin/pip install -q py-spy
echo "bench setup done"
