"""Memory preflight: refuse a run that cannot fit before allocating its frames, with figures and a fix.

Without it, 2048² × 1000 frames died with a raw allocator message and 1024² × 1000 (12.6 GB) grew until the
operating system's OOM killer ended ComfyUI. Frames live in CPU memory (ComfyUI's IMAGE), so the figure is the
available system memory.
"""

from __future__ import annotations

import psutil

from ..models.checks import InputValueError
from ..models.io import encoding

GB = 1e9
HEADROOM = 0.9
"""Use at most this fraction of the available memory (the rest is the OS's, the models' and the browser's)."""


def free_bytes() -> int:
    """Available system memory in bytes (what can be allocated without swapping)."""
    return int(psutil.virtual_memory().available)


def preflight(node: str, frames: int, height: int, width: int, needed: float, fixes: str,
              free: int | None = None) -> None:
    """Raise :class:`InputValueError` when ``needed`` bytes for ``frames`` frames of ``height``×``width`` do not
    fit in the available memory: "N frames × H×W needs X GB, Y GB free — <fixes>"."""
    free = free_bytes() if free is None else free
    if needed > HEADROOM * free:
        raise InputValueError(f"{node}: {frames} frames × {height}×{width} needs {needed / GB:.1f} GB, "
                              f"{free / GB:.1f} GB free — {fixes}")


def animate_bytes(batch: int, frames: int, height: int, width: int) -> float:
    """Animate's output (float32 RGB frames) plus its working set (the image, flow, importance and a few
    frame-sized buffers per image)."""
    pixels = height * width
    return batch * frames * pixels * 3 * 4 + batch * pixels * 4 * 32


def save_bytes(height: int, width: int) -> float:
    """Save's extra memory over the frames it is given: one conversion chunk (float32 and 8-bit, at least a frame;
    frames are converted as they are encoded, ping-pong included) and the encoder's few frame-sized buffers."""
    frame = height * width * 3 * 4
    return 1.25 * max(encoding.CONVERT_CHUNK_BYTES, frame) + 8 * height * width * 4


def preflight_save(frames: object) -> None:
    """Save Cinemagraph's preflight for IMAGE ``frames`` [T, H, W, 3] (anything else is checked by the encoder)."""
    shape = getattr(frames, "shape", None)
    if shape is None or len(shape) != 4:
        return
    count, height, width = (int(n) for n in shape[:3])
    preflight("Save Cinemagraph", count, height, width, save_bytes(height, width), "a smaller image")


MAX_WRITTEN_FRAMES = 54_000
"""Save Cinemagraph writes at most this many frames into one file (30 min at 30 fps): `repeat` streams, so memory
does not limit it, but a longer file takes an hour or more to encode and fills the output disk for nothing."""


def preflight_length(written: int, frames: int, repeat: int, fps: float) -> None:
    """Refuse a save whose ``repeat`` × ``frames`` (ping-pong included) makes more than MAX_WRITTEN_FRAMES frames."""
    if written > MAX_WRITTEN_FRAMES:
        raise InputValueError(f"Save Cinemagraph: `repeat` {repeat} × {frames} `frames` makes {written} frames to "
                              f"write ({written / fps / 60:.0f} min at {fps:g} fps), more than the "
                              f"{MAX_WRITTEN_FRAMES} a save writes — lower `repeat` or save fewer frames")
