"""Pictures of flows: the Middlebury optical-flow colour wheel, sparse arrow overlays, and the user's hints.

Colour coding (Baker et al., "A Database and Evaluation Methodology for Optical Flow", IJCV 2011): hue =
direction on a 55-colour wheel built from six ramps (red→yellow 15, yellow→green 6, green→cyan 4,
cyan→blue 11, blue→magenta 13, magenta→red 6), saturation = speed / normalising speed, so zero flow
is white and flow faster than the normaliser is darkened to 75 %. With image y pointing down, motion
to the right is red, down is orange-yellow, left is cyan-blue and up is violet.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..checks import InputShapeError, InputTypeError, InputValueError, check_flow, check_int, check_nchw
from .hints import MotionHints

_WHEEL_RAMPS = (  # (length, start colour, end colour) of each ramp, RGB
    (15, (1.0, 0.0, 0.0), (1.0, 1.0, 0.0)),
    (6, (1.0, 1.0, 0.0), (0.0, 1.0, 0.0)),
    (4, (0.0, 1.0, 0.0), (0.0, 1.0, 1.0)),
    (11, (0.0, 1.0, 1.0), (0.0, 0.0, 1.0)),
    (13, (0.0, 0.0, 1.0), (1.0, 0.0, 1.0)),
    (6, (1.0, 0.0, 1.0), (1.0, 0.0, 0.0)),
)
_SHIFT = 4  # cv2 drawing with 1/16-pixel precision
CHUNK_PIXELS = 2**20
"""Full-size steps run on this many pixels at a time, ``on_step`` (Cancel) after each: an 8192² preview is 64
chunks, not one uninterruptible pass of seconds."""
_Color = tuple[float, float, float]
LAYER_COLOURS: tuple[_Color, ...] = (
    (0.2, 0.55, 1.0), (1.0, 0.45, 0.15), (0.25, 0.85, 0.3), (0.95, 0.25, 0.75),
    (1.0, 0.85, 0.1), (0.1, 0.85, 0.9), (0.6, 0.4, 1.0), (0.95, 0.95, 0.95),
)
"""One colour per motion layer, bottom first (models.flow.layers.MAX_LAYERS of them): blue, orange, green,
pink, yellow, cyan, violet, white. The motion editor (web/js/motion_editor.js) uses the same list."""
LAYER_TINT = 0.45
"""Opacity of a layer's tint: the picture (or colour wheel) still reads through it."""


def wheel_colors() -> torch.Tensor:
    """The 55 wheel colours [55, 3] (RGB 0..1); entry i starts its ramp at i / length of the way."""
    colors = []
    for length, start, end in _WHEEL_RAMPS:
        t = torch.arange(length, dtype=torch.float32)[:, None] / length
        colors.append(torch.tensor(start) * (1 - t) + torch.tensor(end) * t)
    return torch.cat(colors)


def flow_to_color(flow: torch.Tensor, max_magnitude: float | None = None,
                  on_step: Callable[[], None] | None = None) -> torch.Tensor:
    """Middlebury colour image [B, 3, H, W] (float32 0..1) of a flow [B, 2, H, W].

    ``max_magnitude`` (px/frame) maps to full saturation; None = each item's own largest speed. Made a chunk of
    rows at a time, ``on_step()`` after each (an exception it raises, e.g. Cancel, stops it).
    """
    check_flow(flow)
    if max_magnitude is not None and not (_positive(max_magnitude)):
        raise InputValueError(
            f"max_magnitude must be a positive finite number of px/frame or None, got {max_magnitude!r}")
    batch, _, height, width = flow.shape
    chunks = [slice(start, start + _rows(width)) for start in range(0, height, _rows(width))]
    if max_magnitude is None:
        norm = torch.tensor(_speed_max(flow), dtype=torch.float32, device=flow.device).view(-1, 1, 1).clamp(min=1e-12)
    else:
        norm = torch.tensor(float(max_magnitude), device=flow.device)
    wheel = wheel_colors().to(flow.device)
    out = torch.empty(batch, 3, height, width, device=flow.device)
    for rows in chunks:
        out[:, :, rows] = _wheel_color(flow[:, :, rows].float(), norm, wheel)
        if on_step is not None:
            on_step()
    return out


def _rows(width: int) -> int:
    return max(1, CHUNK_PIXELS // width)


def _speed(flow: torch.Tensor) -> torch.Tensor:
    return torch.hypot(flow[:, 0].float(), flow[:, 1].float())


def _wheel_color(flow: torch.Tensor, norm: torch.Tensor, wheel: torch.Tensor) -> torch.Tensor:
    u, v = flow[:, 0], flow[:, 1]
    radius = _speed(flow) / norm
    position = (torch.atan2(-v, -u) / math.pi + 1) / 2 * (len(wheel) - 1)
    k0 = position.floor().long().clamp(0, len(wheel) - 1)
    k1 = (k0 + 1) % len(wheel)
    frac = (position - k0)[..., None]
    color = (1 - frac) * wheel[k0] + frac * wheel[k1]
    radius = radius[..., None]
    color = torch.where(radius <= 1, 1 - radius * (1 - color), color * 0.75)
    return color.permute(0, 3, 1, 2)


def draw_flow_arrows(
    background: torch.Tensor,
    flow: torch.Tensor,
    *,
    step: int | None = None,
    max_magnitude: float | None = None,
    color: _Color = (1.0, 1.0, 1.0),
    thickness: int = 1,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """``background`` [B, 3, H, W] (0..1; an image or :func:`flow_to_color`) with a sparse grid of arrows.

    One arrow per ``step`` pixels (default: ~24 across the long side), drawn from the cell centre
    along the flow there; length ∝ speed, the fastest (or ``max_magnitude``) spanning 90 % of a cell, faster ones
    no longer (saturated, as in the colours). Arrows have a dark outline so they read on any background.
    ``on_step()`` runs after each chunk of the full-size conversions.
    """
    check_nchw(background, "background", channels=3)
    check_flow(flow)
    _, _, height, width = background.shape
    batches = {flow.shape[0], background.shape[0]}
    if flow.shape[-2:] != (height, width) or (len(batches) > 1 and 1 not in batches):
        raise InputShapeError(
            f"flow {list(flow.shape)} must match background {list(background.shape)} in size, and their batches "
            "must be equal or one of them 1"
        )
    background = background.expand(max(batches), -1, -1, -1)
    step = max(8, round(max(height, width) / 24)) if step is None else step
    check_int(step, "step (pixels between arrows)", 2)
    if max_magnitude is not None and not _positive(max_magnitude):
        raise InputValueError(
            f"max_magnitude must be a positive finite number of px/frame or None, got {max_magnitude!r}")
    ys = np.arange(step // 2, height, step)
    xs = np.arange(step // 2, width, step)
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    # float64: a speed of 1e38 times the scale of a tiny max_magnitude stays finite
    vectors = flow.detach().cpu().numpy()[:, :, ys][:, :, :, xs].astype(np.float64)
    # hypot, not norm(dim=0): torch reduces over the 2-long channel dimension ~50× slower (0.7 s at 2048²)
    tops = (_speed_max(flow, on_step) if max_magnitude is None else [max_magnitude] * len(flow))
    canvases = _to_canvas(background, on_step)
    for b, canvas in enumerate(canvases):
        u, v = vectors[b if len(vectors) > 1 else 0]
        norm = float(tops[b if len(tops) > 1 else 0])
        if not 0 < norm < math.inf:
            continue
        longest = 0.9 * step
        length = np.hypot(u, v) * (longest / norm)
        keep = length >= 1.0
        shrink = longest / np.maximum(length[keep], longest)  # faster than max_magnitude: one cell long
        tails = np.stack([grid_x[keep], grid_y[keep]], axis=1)
        heads = tails + np.stack([u[keep], v[keep]], axis=1) * (longest / norm * shrink)[:, None]
        _draw_arrows(canvas, tails, heads, color, thickness)
    return _from_canvas(canvases, background, on_step)


def _speed_max(flow: torch.Tensor, on_step: Callable[[], None] | None = None) -> list[float]:
    """Each item's largest speed (px/frame), a chunk of rows at a time with ``on_step()`` after each."""
    tops = torch.zeros(flow.shape[0], dtype=torch.float64)
    for start in range(0, flow.shape[-2], _rows(flow.shape[-1])):
        chunk = _speed(flow[:, :, start:start + _rows(flow.shape[-1])]).amax(dim=(1, 2)).double().cpu()
        tops = torch.maximum(tops, chunk)
        if on_step is not None:
            on_step()
    return tops.tolist()


def draw_motion_hints(
    image: torch.Tensor,
    hints: MotionHints,
    *,
    arrow_color: _Color = (1.0, 0.85, 0.1),
    anchor_color: _Color = (0.2, 0.8, 1.0),
) -> torch.Tensor:
    """``image`` [B, 3, H, W] (0..1) with the user's arrows (tail → head) and anchors (dots) drawn on it."""
    check_nchw(image, "image", channels=3)
    if not isinstance(hints, MotionHints):
        raise InputTypeError(
            f"hints must be MotionHints (see models.flow.hints.parse_arrows), got {type(hints).__name__}")
    _, _, height, width = image.shape
    size = math.sqrt(height * width)
    thickness = max(2, round(size / 200))
    canvases = _to_canvas(image)
    arrows = np.asarray(hints.arrows, dtype=np.float64).reshape(-1, 4) * np.array([width, height] * 2) - 0.5
    anchors = hints.anchor_points(height, width)
    radius = max(3.0, size / 100)
    for canvas in canvases:
        _draw_arrows(canvas, arrows[:, :2], arrows[:, 2:], arrow_color, thickness)
        for x, y in anchors:
            center = (round(x * 2**_SHIFT), round(y * 2**_SHIFT))
            cv2.circle(canvas, center, round((radius + thickness) * 2**_SHIFT), (0, 0, 0), -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(canvas, center, round(radius * 2**_SHIFT), _bgr255(anchor_color), -1, cv2.LINE_AA, _SHIFT)
    return _from_canvas(canvases, image)


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _bgr255(color: _Color) -> tuple[int, int, int]:
    if len(color) != 3 or not all(isinstance(c, (int, float)) and 0 <= c <= 1 for c in color):
        raise InputValueError(f"colours are (r, g, b) with each value in 0..1, got {color!r}")
    return tuple(round(255 * c) for c in reversed(color))


def _to_canvas(images: torch.Tensor, on_step: Callable[[], None] | None = None) -> list[np.ndarray]:
    """[B, 3, H, W] 0..1 → contiguous uint8 BGR images for cv2, a chunk of rows at a time."""
    batch, _, height, width = images.shape
    canvases = [np.empty((height, width, 3), np.uint8) for _ in range(batch)]
    for start in range(0, height, _rows(width)):
        rows = slice(start, start + _rows(width))
        pixels = (images[:, :, rows].detach().float().clamp(0, 1) * 255).round().byte().cpu().numpy()
        for canvas, part in zip(canvases, pixels, strict=True):
            canvas[rows] = part.transpose(1, 2, 0)[:, :, ::-1]
        if on_step is not None:
            on_step()
    return canvases


def _from_canvas(canvases: list[np.ndarray], like: torch.Tensor,
                 on_step: Callable[[], None] | None = None) -> torch.Tensor:
    height, width = canvases[0].shape[:2]
    out = torch.empty(len(canvases), 3, height, width, device=like.device)
    for start in range(0, height, _rows(width)):
        rows = slice(start, start + _rows(width))
        pixels = np.stack([c[rows, :, ::-1].transpose(2, 0, 1) for c in canvases]).astype(np.float32) / 255.0
        out[:, :, rows] = torch.from_numpy(pixels).to(like.device)
        if on_step is not None:
            on_step()
    return out


def _draw_arrows(canvas: np.ndarray, tails: np.ndarray, heads: np.ndarray, color: _Color, thickness: int) -> None:
    """Outlined anti-aliased arrows; sub-pixel end points, tips 30 % of the length (at least 3 px)."""
    bgr = _bgr255(color)
    for tail, head in zip(tails, heads, strict=True):
        length = float(np.hypot(*(head - tail)))
        if length < 1.0:
            continue
        tip = min(0.5, max(0.3, 3.0 / length))
        start = tuple(int(c) for c in np.rint(tail * 2**_SHIFT))
        end = tuple(int(c) for c in np.rint(head * 2**_SHIFT))
        cv2.arrowedLine(canvas, start, end, (0, 0, 0), thickness + 2, cv2.LINE_AA, _SHIFT, tip)
        cv2.arrowedLine(canvas, start, end, bgr, thickness, cv2.LINE_AA, _SHIFT, tip)


def flow_preview(image: torch.Tensor, flow: torch.Tensor, hints: MotionHints | None = None,
                 on_step: Callable[[], None] | None = None) -> torch.Tensor:
    """``image`` [B, 3, H, W] tinted with the flow's colour wheel where it moves, with arrows (and the user's
    hints): Text Flow's preview. ``on_step()`` runs between its full-size steps (an exception it raises, e.g.
    Cancel, stops it)."""
    step = on_step or (lambda: None)
    colour = flow_to_color(flow, on_step=on_step)
    moving = (flow.abs().sum(dim=1, keepdim=True) > 0).float()
    tinted = image * (1 - 0.6 * moving) + colour * 0.6 * moving
    step()
    preview = draw_flow_arrows(tinted, flow, on_step=on_step)
    if hints is not None and not hints.is_empty:
        preview = draw_motion_hints(preview, hints)
    return preview


def layer_overlay(owner: torch.Tensor, tinted: set[int], outlined: set[int]) -> torch.Tensor:
    """RGBA overlay [B, 4, H, W] (0..1) of a stack's regions: the layers in ``tinted`` filled with their colour
    of :data:`LAYER_COLOURS` at :data:`LAYER_TINT`, those in ``outlined`` edged with it. ``owner`` [B, 1, H, W]
    is :meth:`models.flow.layers.FlowStack.owner` (−1 where no layer moves)."""
    batch, _, height, width = owner.shape
    radius = max(1, round(max(height, width) / 400))  # an outline about 2 px wide at 512², visible at 2048²
    overlay = torch.zeros(batch, 4, height, width, device=owner.device)
    for index in sorted(tinted | outlined):
        region = (owner == index).float()
        colour = torch.tensor(LAYER_COLOURS[index % len(LAYER_COLOURS)], device=owner.device)[:, None, None]
        if index in tinted:
            overlay = torch.where(region > 0, torch.cat([colour, colour.new_full((1, 1, 1), LAYER_TINT)]), overlay)
        if index in outlined:
            grown = F.max_pool2d(region, 2 * radius + 1, 1, radius)
            shrunk = -F.max_pool2d(-region, 2 * radius + 1, 1, radius)
            overlay = torch.where(grown > shrunk, torch.cat([colour, colour.new_ones((1, 1, 1))]), overlay)
    return overlay


def composite(background: torch.Tensor, overlay: torch.Tensor) -> torch.Tensor:
    """``overlay`` [B|1, 4, H, W] (:func:`layer_overlay`) drawn over ``background`` [B|1, 3, H, W]."""
    alpha = overlay[:, 3:]
    return background * (1 - alpha) + overlay[:, :3] * alpha
