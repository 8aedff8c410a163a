#!/usr/bin/env bash
# Command (a) of the README: set up what the demo runs (torch, ComfyUI and our requirements; no test tools, no
# chromium, no root), then animate the bundled sample painting with the bundled "animate a painting" workflow in a
# real, headless ComfyUI (CPU, no model weights) and print the file written.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" --runtime
exec "$ROOT/.venv/bin/python" "$ROOT/scripts/demo.py" "$@"
