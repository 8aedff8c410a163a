"""Benchmark of Save Cinemagraph's formats (models.io.encoding.write_loop): write time and file size of a
768×512×60 loop in every format, and a 60-frame 1080p motion photo and live photo against the MP4 alone (the issue's
target: at most 2× its time).

Run: ``.venv/bin/python benchmarks/save_formats.py`` (``--quick`` for a tiny smoke run).

The frames are what Save is normally given: the bundled sample painting, still outside its mask, its content
sliding 3 px a frame inside (float32 in 0..1). Times are the best of ``--repeats`` runs (the machine may be shared),
quality 90, 30 fps, metadata off. A live photo is 2 s here (60 frames at 30 fps: within its 1.5–3 s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.io.encoding import EXTENSIONS, FORMAT_TABLE, FORMATS, prepare_loop, write_loop  # noqa: E402


def make_frames(count: int, height: int, width: int) -> torch.Tensor:
    """The sample painting at ``height``×``width`` (scaled to cover, centre-cropped), its masked part moving."""
    from PIL import Image

    with Image.open(ROOT / "assets" / "sample_painting.png") as image:
        rgba = torch.from_numpy(np.array(image.convert("RGBA"))).permute(2, 0, 1).float()[None] / 255
    scale = max(height / rgba.shape[2], width / rgba.shape[3])
    size = (max(height, round(rgba.shape[2] * scale)), max(width, round(rgba.shape[3] * scale)))
    rgba = torch.nn.functional.interpolate(rgba, size=size, mode="bilinear", antialias=True, align_corners=False)
    top, left = (size[0] - height) // 2, (size[1] - width) // 2
    picture = rgba[0, :3, top:top + height, left:left + width].permute(1, 2, 0)
    mask = rgba[0, 3, top:top + height, left:left + width, None] > 0.5
    frames = picture.expand(count, height, width, 3).clone()
    for index in range(count):
        frames[index] = torch.where(mask, picture.roll(3 * index, dims=1), picture)
    return frames.clamp(0, 1)


def timed_write(frames: torch.Tensor, fmt: str, folder: Path, repeats: int) -> tuple[float, int]:
    """(best time in s, size in bytes, companion file included) of writing ``frames`` as ``fmt``."""
    best, size = float("inf"), 0
    for attempt in range(repeats):
        path = folder / f"{fmt.replace(' ', '_')}_{frames.shape[2]}_{attempt}{EXTENSIONS[fmt]}"
        started = time.perf_counter()
        write_loop(prepare_loop(frames, fmt, 30.0, on_note=lambda _: None), path, fmt, 30.0)
        best = min(best, time.perf_counter() - started)
        companion = FORMAT_TABLE[fmt].companion
        size = path.stat().st_size + (path.with_suffix(companion).stat().st_size if companion else 0)
    return best, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 64×48×8 loop, one run (smoke test)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    count, small, large = (8, (48, 64), (72, 128)) if args.quick else (60, (512, 768), (1080, 1920))
    repeats = 1 if args.quick else args.repeats
    with tempfile.TemporaryDirectory() as folder:
        frames = make_frames(count, *small)
        print(f"{small[1]}×{small[0]}×{count} loop, quality 90, 30 fps (best of {repeats}):")
        print(f"{'format':>14} {'time s':>8} {'size MB':>8}")
        for fmt in FORMATS:
            seconds, size = timed_write(frames, fmt, Path(folder), repeats)
            print(f"{fmt:>14} {seconds:8.2f} {size / 1e6:8.3f}")
        frames = make_frames(count, *large)
        print(f"\n{large[1]}×{large[0]}×{count} loop: the phone formats against the MP4 alone (target ≤ 2.0×):")
        print(f"{'format':>14} {'time s':>8} {'size MB':>8} {'÷ mp4':>6}")
        results = {fmt: timed_write(frames, fmt, Path(folder), repeats)
                   for fmt in ("mp4", "motion photo", "live photo", "live photo hevc")}
        for fmt, (seconds, size) in results.items():
            print(f"{fmt:>14} {seconds:8.2f} {size / 1e6:8.3f} {seconds / results['mp4'][0]:6.2f}")
        print("targets: motion photo and live photo ≤ 2.0× the mp4 (live photo hevc: x265, shown for reference)")


if __name__ == "__main__":
    main()
