#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian machine, then runs it.
# System packages: the real feed readers the tests drive. Python: a .venv with the project and its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(newsboat sqlite3 sfeed rss2email chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'

.venv/bin/ruff check syndicator tests bench
.venv/bin/python -m pytest "$@"
# The same suite again with every store on the PostgreSQL server at 127.0.0.1:5432 (user postgres,
# trust auth; SYNDICATOR_TEST_PG names another): tests/conftest.py creates a fresh database per store
# and drops them all at the end. SKIP_POSTGRES=1 leaves it out on a machine without that server.
if [ "${SKIP_POSTGRES:-0}" != "1" ]; then
  if ! .venv/bin/python -c "import os, psycopg; psycopg.connect(os.environ.get('SYNDICATOR_TEST_PG', \
      'postgresql://postgres@127.0.0.1:5432') + '/postgres', connect_timeout=5).close()"; then
    echo "no PostgreSQL server answers for the second pass (start one, or SKIP_POSTGRES=1)" >&2
    exit 1
  fi
  SYNDICATOR_TEST_DB=postgresql .venv/bin/python -m pytest "$@"
fi

# The optional semantic extra (a sentence-embedding model, about 1.5 GB with torch) in a venv of
# its own, so that the main run above proves the default install does not need it. SKIP_SEMANTIC=1
# leaves it out on machines that cannot download the model's packages.
if [ "${SKIP_SEMANTIC:-0}" != "1" ]; then
  [ -x .venv-semantic/bin/python ] || "$PYTHON" -m venv .venv-semantic
  .venv-semantic/bin/pip install -q --upgrade pip
  .venv-semantic/bin/pip install -q -e '.[semantic,test]'
  SYNDICATOR_REQUIRE_SEMANTIC=1 .venv-semantic/bin/python -m pytest tests/test_semantic.py tests/test_similarity.py
fi
