#!/usr/bin/env bash
# Command (b) of the README: set everything up, then lint and run the WHOLE test suite
# (unit, in-process ComfyUI node tests, real-server end-to-end tests, real-browser tests).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not browser"` or `-k animate`.
# `--layer unit|comfy|server|browser` (repeatable) runs only those layers; without the browser layer the set-up
# skips chromium (no root needed). T2C_SKIP_BROWSER=1 skips chromium too (then add -m "not browser").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
layers=() pytest_args=()
while (( $# )); do
    case "$1" in
        --layer) [[ $# -ge 2 ]] || { echo "--layer needs one of: unit comfy server browser" >&2; exit 2; }
                 layers+=("$2"); shift 2 ;;
        --layer=*) layers+=("${1#--layer=}"); shift ;;
        *) pytest_args+=("$1"); shift ;;
    esac
done
setup_args=()
if (( ${#layers[@]} )); then
    setup_args=(--no-browser)
    for layer in "${layers[@]}"; do
        case "$layer" in
            unit|comfy|server) ;;
            browser) setup_args=() ;;
            *) echo "unknown layer '$layer': use unit, comfy, server or browser" >&2; exit 2 ;;
        esac
        pytest_args+=("tests/$layer")
    done
fi
bash "$ROOT/scripts/setup.sh" "${setup_args[@]}"
cd "$ROOT"
echo "[test] ruff check"
.venv/bin/ruff check .
echo "[test] pytest"
exec .venv/bin/python -m pytest "${pytest_args[@]}"
