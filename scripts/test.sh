#!/usr/bin/env bash
# Command (b) of the README: set everything up, then lint and run the WHOLE test suite
# (unit, in-process ComfyUI node tests, real-server end-to-end tests, real-browser tests).
# It runs two legs of the version matrix: the oldest supported ComfyUI (.comfyui/, 0.3.75 with its pinned frontend)
# runs every layer; the current one (.comfyui-current/, 0.33.0 with the newest frontend) runs the comfy, server and
# browser layers again. T2C_COMFYUI_LEGS=oldest|current|both (default both); without ../shared's ComfyUI tarball
# the current leg says so and is skipped. Both legs always run; the exit status fails if either failed.
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
setup_args=() oldest_paths=() current_paths=(tests/browser tests/comfy tests/server)  # the order pytest gives the oldest leg
if (( ${#layers[@]} )); then
    setup_args=(--no-browser) current_paths=()
    for layer in "${layers[@]}"; do
        case "$layer" in
            unit|comfy|server) ;;
            browser) setup_args=() ;;
            *) echo "unknown layer '$layer': use unit, comfy, server or browser" >&2; exit 2 ;;
        esac
        oldest_paths+=("tests/$layer")
        [[ "$layer" == unit ]] || current_paths+=("tests/$layer")
    done
fi
for arg in "${pytest_args[@]}"; do
    [[ "$arg" == tests/* ]] && current_paths=()  # explicit test paths run as given in both legs
done
legs="${T2C_COMFYUI_LEGS:-both}"
case "$legs" in oldest|current|both) ;; *) echo "T2C_COMFYUI_LEGS must be oldest, current or both" >&2; exit 2 ;; esac
bash "$ROOT/scripts/setup.sh" "${setup_args[@]}"
cd "$ROOT"
echo "[test] ruff check"
.venv/bin/ruff check .

status=0 summary=()
run_leg() {  # run_leg NAME [ENV=VALUE ...] -- PATHS...
    local name="$1" start rc=0 envs=()
    shift
    while [[ "$1" != -- ]]; do envs+=("$1"); shift; done
    shift
    echo "[test] pytest, $name leg"
    start=$(date +%s)
    env "${envs[@]}" .venv/bin/python -m pytest "$@" --durations=25 "${pytest_args[@]}" || rc=$?  # the slowest 25 tests listed
    summary+=("$name leg: exit $rc in $(( $(date +%s) - start )) s")
    (( rc == 0 )) || status=1
}
if [[ "$legs" != current ]]; then
    run_leg "oldest ComfyUI (.comfyui)" T2C_COMFYUI_LEG=oldest -- "${oldest_paths[@]}"
fi
if [[ "$legs" != oldest ]]; then
    if [[ ! -e .comfyui-current/custom_nodes/text2cinemagraph ]]; then
        summary+=("current ComfyUI leg: skipped, not set up (needs ../shared/comfyui/ComfyUI-0.33.0.tar.gz)")
    elif (( ${#layers[@]} )) && (( ! ${#current_paths[@]} )); then
        summary+=("current ComfyUI leg: nothing to run for --layer ${layers[*]}")
    else
        run_leg "current ComfyUI (.comfyui-current)" T2C_COMFYUI_LEG=current COMFYUI_DIR="$ROOT/.comfyui-current" \
            PYTHONPATH="$ROOT/.comfyui-current/site-packages" -- "${current_paths[@]}"
    fi
fi
printf '[test] %s\n' "${summary[@]}"
exit "$status"
