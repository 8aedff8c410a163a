"""Memory preflight: refuse a run that cannot fit before allocating its frames, with figures and a fix.

Without it, 2048² × 1000 frames died with a raw allocator message and 1024² × 1000 (12.6 GB) grew until the
operating system's OOM killer ended ComfyUI. Frames live in CPU memory (ComfyUI's IMAGE), so the figure is the
available system memory.
"""

from __future__ import annotations

import math

import psutil

from ..models.checks import InputValueError
from ..models.flow.layers import FlowLayer, as_stack
from ..models.io import encoding
from ..models.loop.common import CHUNK_PIXELS
from ..models.loop.engines import CLASSIC_SPLAT, SHARP_LOOP, renders_layers
from ..models.loop.sharp_plan import MAX_CYCLES

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


WORKING_SET = {SHARP_LOOP: (200.0, 31.0, 165.0), CLASSIC_SPLAT: (365.0, 29.0, 0.0)}
"""Per pixel engine, what a run holds at its peak besides its frames: (bytes per pixel of each image that do not
depend on the frame count, bytes per pixel per √frames, bytes per pixel of the largest chunk it renders at once).
Fitted to the peaks measured with the whole picture moving (the most a flow can move) at 256², 512², 1024² and 2048²,
2 to 120 frames (benchmarks/animate_memory.py prints estimate against measured peak):
* sharp loop: each image's reader — the still upsampled to the 2× grid (4 × 12 B, built a block of rows at a time)
  and its blurred low band (12 B); the plan's per-pixel windows (4 float32 per cycle) and the tracked pixels'
  indices; the two Euler states (positions and start, 16 B each) and the step temporaries they share (32 B); the
  prepared flow and the image in channel-first layout (20 B). A frame's reads and blends are made for one chunk of a
  layer's pixels at a time (at most models.loop.common.CHUNK_PIXELS, 11 MB at 165 B a pixel);
* classic splat: the blender's splat values (the sources twice, 32 B), its static base (16 B) and the splat
  workspace of a frame (accumulators, flags, ratio ≈ 200 B); the two Euler states and their step temporaries;
* both: the backward trace is served from ⌈√N⌉ stored displacement fields (8 B each) and ⌈N/⌈√N⌉⌉ checkpoints
  (9 B each) — about 17 B × √N, measured 29–31 B with the allocator's rounding and reuse.
The video network keeps the classic figures (its activations are the model's, managed by ComfyUI)."""
WORKING_MARGIN = 1.1
"""The working set's estimate over its measured peak: the allocator's rounding and reuse vary by a few percent."""


LAYER_BYTES = {"behind": 17.0, "slip": 12.0, "stick": 12.0}
"""Bytes per pixel of each image that each motion layer the sharp loop renders adds to :data:`WORKING_SET` (a
layer's own buffers are picture-sized, whatever its region): its prepared flow and mask (12 B); a ``behind``
layer's nearest-pixel map (4 B) and its broad band's grids (1 B)."""
BEHIND_BYTES = 4.0
"""Bytes per pixel of each image once a stack has ``behind`` layers: the index of the pixels that take the balanced
broad band (4 B; the layers' pixels do not overlap). What a frame of such a layer reads besides (where its traces end
before they are moved onto the layer, the broad band's change) is made a chunk at a time, within the sharp loop's
constant."""
CYCLE_BYTES = 16.0
"""Bytes per pixel of the plan's windows per cycle (4 float32): a layer of c cycles holds c of them, but its traces
span N/c frames (:data:`WORKING_SET`'s part per √frames shrinks with them)."""


def rendered_layers(flow: object, engine: str, video_network: bool = False) -> tuple[FlowLayer, ...]:
    """The motion layers ``engine`` renders one by one from the ``T2C_FLOW`` ``flow`` (none: it renders one flow)."""
    stack = as_stack(flow, "Animate `flow`")
    return stack.layers if renders_layers(stack, engine, video_network) else ()


def animate_bytes(batch: int, frames: int, height: int, width: int, engine: str = SHARP_LOOP,
                  layers: tuple[FlowLayer, ...] = ()) -> float:
    """Animate's output (float32 RGB frames) plus the working set of ``engine`` (:data:`WORKING_SET`) and of the
    motion ``layers`` it renders one by one (:func:`rendered_layers`; :data:`LAYER_BYTES`, :data:`BEHIND_BYTES`,
    :data:`CYCLE_BYTES`; measured with tests/fixtures/peak_memory.py's stacks of ``behind`` layers)."""
    pixels = batch * height * width
    fixed, per_root, per_chunk_pixel = WORKING_SET.get(engine, WORKING_SET[CLASSIC_SPLAT])
    regions = (int(layer.region().flatten(1).sum(1).max()) for layer in layers)
    chunk = min(CHUNK_PIXELS, max(regions, default=height * width))
    if layers:
        cycles = {MAX_CYCLES if layer.cycles is None else layer.cycles for layer in layers}
        fixed += sum(LAYER_BYTES[layer.border] for layer in layers) + max(
            CYCLE_BYTES * (c - 1) - per_root * (math.sqrt(frames) - math.sqrt(frames / c)) for c in cycles | {1})
        fixed += BEHIND_BYTES if any(layer.border == "behind" for layer in layers) else 0.0
    return (pixels * frames * 3 * 4 + WORKING_MARGIN * pixels * (fixed + per_root * math.sqrt(frames))
            + per_chunk_pixel * chunk)


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
