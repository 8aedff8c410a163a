#!/usr/bin/env bash
# Command (b) of the README: set everything up, then lint and run the WHOLE test suite
# (unit, in-process ComfyUI node tests, real-server end-to-end tests, real-browser tests).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not browser"` or `-k animate`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
echo "[test] ruff check"
.venv/bin/ruff check .
echo "[test] pytest"
exec .venv/bin/python -m pytest "$@"
