"""Write the registry icon ``docs/icon.png``: a square crop of the bundled sample painting with flow arrows.

    .venv/bin/python scripts/make_icon.py [--out docs/icon.png]

Everything in it is ours: the painting is procedural (``scripts/make_sample_painting.py``) and the arrows are
drawn here along its painted mask. The Comfy Registry shows the icon from the URL ``[tool.comfy] Icon`` in
pyproject.toml names, which points at this file; ``tests/unit/test_pack.py`` checks it is square and ≤ 400 px.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO_ROOT = Path(__file__).resolve().parents[1]
PAINTING = REPO_ROOT / "assets" / "sample_painting.png"
SIZE = 256
ARROWS = 5


def make_icon(painting: Path = PAINTING, size: int = SIZE) -> Image.Image:
    rgba = Image.open(painting).convert("RGBA")
    side = min(rgba.size)
    left, top = (rgba.width - side) // 2, (rgba.height - side) // 2
    square = rgba.crop((left, top, left + side, top + side))
    rgb = square.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    # The painted mask is alpha 0 where the water moves: arrows down the narrow fall, sideways across the lake.
    moving = np.asarray(square.getchannel("A").resize((size, size), Image.Resampling.NEAREST)) < 128
    draw = ImageDraw.Draw(rgb)
    rows = np.flatnonzero(moving.any(axis=1))
    if rows.size:
        for row in np.linspace(rows[0] + 12, rows[-1] - 12, ARROWS).round().astype(int):
            cols = np.flatnonzero(moving[row])
            if cols.size < 24:
                continue
            span = cols[-1] - cols[0]
            if span < 60:
                centre = cols[0] + span / 2
                _arrow(draw, (centre, row - 9), (centre, row + 9))
            else:
                _arrow(draw, (cols[0] + 0.35 * span, row), (cols[0] + 0.65 * span, row))
    return rgb


def _arrow(draw: ImageDraw.ImageDraw, start, end) -> None:
    (ax, ay), (bx, by) = start, end
    angle = np.arctan2(by - ay, bx - ax)
    head = 7.0
    wings = [(bx - head * np.cos(angle - s), by - head * np.sin(angle - s)) for s in (0.5, -0.5)]
    for width, colour in ((5, (0, 0, 0)), (2, (255, 212, 59))):
        draw.line([(ax, ay), (bx, by)], fill=colour, width=width)
        draw.line([wings[0], (bx, by), wings[1]], fill=colour, width=width)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "icon.png")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    make_icon().save(args.out, optimize=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
