#!/usr/bin/env bash
# The full test suite, real components included (vLLM on CPU, Presidio/GiNZA, PostgreSQL, Chromium).
# GPU tests (marker `gpu`) are deselected here; on a CUDA machine run `pytest -m gpu`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${VIRTUAL_ENV:-}" ] || source .venv/bin/activate
ruff check medswallow tests app benchmarks
mypy medswallow
# The documentation site: a broken link, a missing page or a stale API reference fails here.
site=$(mktemp -d); NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet --site-dir "$site"; rm -rf "$site"
if [ -z "${MEDSWALLOW_TEST_PG_URL:-}" ]; then
  # A throwaway PostgreSQL cluster for tests marked `postgres`, stopped when the tests end.
  source scripts/start-postgres.sh
  trap 'stop_test_postgres' EXIT
fi
python -m pytest -q -p no:cacheprovider -m "not gpu" "$@"
