#!/usr/bin/env bash
# The full test suite, real components included (vLLM on CPU, Presidio/GiNZA, PostgreSQL, Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${VIRTUAL_ENV:-}" ] || source .venv/bin/activate
ruff check medswallow tests app benchmarks
mypy medswallow
python -m pytest -q -p no:cacheprovider "$@"
