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
oldest_leg=(oldest "oldest ComfyUI (.comfyui)" -- "${oldest_paths[@]}")
current_leg=(current "current ComfyUI (.comfyui-current)" COMFYUI_DIR="$ROOT/.comfyui-current"
             PYTHONPATH="$ROOT/.comfyui-current/site-packages" -- "${current_paths[@]}")
leg_pytest() {  # leg_pytest LEG NAME [ENV=VALUE ...] -- PATHS... : one leg's pytest (the slowest 25 tests listed)
    local leg="$1" envs=()
    shift 2
    while [[ "$1" != -- ]]; do envs+=("$1"); shift; done
    shift
    env T2C_COMFYUI_LEG="$leg" "${envs[@]}" .venv/bin/python -m pytest "$@" --durations=25 "${pytest_args[@]}"
}
start_leg() {  # start_leg LOG LEG NAME ...: the leg in the background, in a session of its own (its servers and
    # chromium too, so stopping that process group stops all of it); LOG "-" keeps its output on this terminal.
    # When it ends it creates the file T2C_LEG_DONE names, if set.
    local log="$1" run
    shift
    run="$(declare -f leg_pytest); pytest_args=(${pytest_args[*]@Q}); leg_pytest \"\$@\"; rc=\$?
         [[ -z \"\${T2C_LEG_DONE:-}\" ]] || touch \"\$T2C_LEG_DONE\"; exit \$rc"
    if [[ "$log" == - ]]; then
        setsid bash -c "$run" _ "$@" &
    else
        setsid bash -c "$run" _ "$@" > "$log" 2>&1 &
    fi
}
finish_leg() {  # finish_leg NAME PID START [LOG]: wait for the leg, note its exit status and time
    local rc=0 end
    wait "$2" || rc=$?
    end=$(date +%s)
    [[ -z "${4:-}" ]] || end=$(stat -c %Y "$4")  # its last line, not when the other leg let us read it
    summary+=("$1 leg: exit $rc in $(( end - $3 )) s")
    (( rc == 0 )) || status=1
}
run_leg() {  # run_leg LEG NAME ...: the leg with its output on this terminal, waited for
    local start
    echo "[test] pytest, $2 leg"
    start=$(date +%s)
    start_leg - "$@"
    pids+=($!)
    finish_leg "$2" "$!" "$start"
}
run_oldest=0 run_current=0
[[ "$legs" == current ]] || run_oldest=1
if [[ "$legs" != oldest ]]; then
    if [[ ! -e .comfyui-current/custom_nodes/text2cinemagraph ]]; then
        summary+=("current ComfyUI leg: skipped, not set up (needs ../shared/comfyui/ComfyUI-0.33.0.tar.gz)")
    elif (( ${#layers[@]} )) && (( ! ${#current_paths[@]} )); then
        summary+=("current ComfyUI leg: nothing to run for --layer ${layers[*]}")
    else
        run_current=1
    fi
fi
# The current leg spends most of its time waiting on its servers and browsers (0.75 of a CPU on average on a 2-core
# machine), so by default it runs alongside the oldest one, its output kept in a file and printed after the oldest
# leg's. T2C_LEGS_TOGETHER=0 runs them one after the other. An interrupt stops every leg's whole process group.
together=0
if (( run_oldest && run_current )) && [[ "${T2C_LEGS_TOGETHER:-1}" != 0 ]]; then
    together=1
    # Each leg gets half the cores for torch's threads (unless OMP_NUM_THREADS is set): two legs of nproc threads each
    # oversubscribe the CPU, and OpenMP's waiting threads then slow the two SD1.5 servers' sampling several-fold.
    threads=$(( $(nproc) / 2 ))
    export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( threads > 1 ? threads : 1 ))}"
fi
log_dir=$(mktemp -d)
pids=()
trap 'for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done; rm -rf "$log_dir"; exit 130' INT TERM
if (( run_current && together )); then
    echo "[test] pytest, ${current_leg[1]} leg: in the background, its output follows the oldest leg's"
    current_start=$(date +%s)
    T2C_LEG_DONE="$log_dir/current.done" start_leg "$log_dir/current.log" "${current_leg[@]}"
    pids+=($!)
    export T2C_CORES_FREED_WHEN="$log_dir/current.done"  # the oldest leg's last tests then take every core
fi
(( ! run_oldest )) || run_leg "${oldest_leg[@]}"
if (( run_current && together )); then
    echo "[test] pytest, ${current_leg[1]} leg (ran alongside the oldest one)"
    finish_leg "${current_leg[1]}" "${pids[0]}" "$current_start" "$log_dir/current.log"
    cat "$log_dir/current.log"
elif (( run_current )); then
    run_leg "${current_leg[@]}"
fi
rm -rf "$log_dir"
printf '[test] %s\n' "${summary[@]}"
exit "$status"
