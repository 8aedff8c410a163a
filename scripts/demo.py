"""Command (a) of the README, after set-up: run the bundled "animate a painting" workflow headless on the
bundled sample painting in a real ComfyUI server, with no downloaded weights, and print where the loop went.
``--workflow animate_painting_layers`` runs the three-layer version instead (the README GIF)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from comfy_server import REPO_ROOT, ComfyServer
from workflow_api import to_api

WORKFLOWS = ("animate_painting", "animate_painting_layers")
"""The bundled workflows that need no weights: the sample painting, and its three motion layers."""
SAMPLES = (REPO_ROOT / "assets" / "sample_painting.png", REPO_ROOT / "assets" / "sample_painting_layers.png")
PAINTING = SAMPLES[0]


def main(workdir: Path = REPO_ROOT / "demo-output", workflow: str = WORKFLOWS[0]) -> Path:
    server = ComfyServer(workdir)
    for sample in SAMPLES:
        shutil.copy(sample, server.input_dir / sample.name)
    print(f"[demo] starting ComfyUI (headless, CPU) with the pack; log: {server.log_path}", flush=True)
    server.start()
    try:
        path = REPO_ROOT / "workflows" / f"{workflow}.json"
        prompt = to_api(json.loads(path.read_text()), server.get("/object_info"))
        started = time.monotonic()
        print(f"[demo] running {path.relative_to(REPO_ROOT)} on {PAINTING.name} …", flush=True)
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


def write_readme_gif(video: Path, gif: Path, width: int = 360) -> None:
    """The README's looping GIF: the demo's loop, downscaled (a full-size GIF would be ~5 MB)."""
    sys.path.insert(0, str(REPO_ROOT))
    import imageio.v3 as iio
    import torch.nn.functional as F
    from torch import from_numpy

    from models.io.encoding import write_loop

    frames = from_numpy(iio.imread(video, plugin="pyav")).permute(0, 3, 1, 2).float() / 255
    height = round(frames.shape[-2] * width / frames.shape[-1])
    small = F.interpolate(frames, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    write_loop(small.clamp(0, 1).permute(0, 2, 3, 1), gif, "gif", fps=30)
    print(f"[demo] README GIF written to: {gif}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readme-gif", type=Path, metavar="PATH",
                        help="also write a downscaled looping GIF of the result (assets/sample_cinemagraph.gif)")
    parser.add_argument("--workflow", choices=WORKFLOWS, default=WORKFLOWS[0],
                        help="the bundled workflow to run (default: %(default)s)")
    args = parser.parse_args()
    result = main(workflow=args.workflow)
    if args.readme_gif:
        write_readme_gif(result, args.readme_gif)
