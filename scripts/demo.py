"""Command (a) of the README, after set-up: run the bundled "animate a painting" workflow headless on the
bundled sample painting in a real ComfyUI server, with no downloaded weights, and print where the loop went."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from comfy_server import REPO_ROOT, ComfyServer
from workflow_api import to_api

WORKFLOW = REPO_ROOT / "workflows" / "animate_painting.json"
PAINTING = REPO_ROOT / "assets" / "sample_painting.png"


def main(workdir: Path = REPO_ROOT / "demo-output") -> Path:
    server = ComfyServer(workdir)
    shutil.copy(PAINTING, server.input_dir / PAINTING.name)
    print(f"[demo] starting ComfyUI (headless, CPU) with the pack; log: {server.log_path}", flush=True)
    server.start()
    try:
        prompt = to_api(json.loads(WORKFLOW.read_text()), server.get("/object_info"))
        started = time.monotonic()
        print(f"[demo] running {WORKFLOW.relative_to(REPO_ROOT)} on {PAINTING.name} …", flush=True)
        entry = server.run_prompt(prompt, timeout=900)
        files = [path for path in server.output_files(entry) if path.suffix in (".mp4", ".gif", ".webp")]
        print(f"[demo] done in {time.monotonic() - started:.1f} s")
    finally:
        server.stop()
    if not files:
        sys.exit("[demo] the workflow ran but wrote no cinemagraph; see " + str(server.log_path))
    for path in files:
        print(f"[demo] cinemagraph written to: {path}")
    return files[0]


if __name__ == "__main__":
    main()
