"""Learning-free flow engine: image + region mask + (direction | arrows | class prior) → Eulerian flow.

What drives the motion, first match wins: the user's arrows, an explicit angle, a direction phrase in
the text ("in upwards direction", "towards the bottom right", "at 30°" …), a class word in the region
label or the prompt (:data:`models.prompt.vocabulary.CLASS_PRIORS`), else the region's own shape.

Design choices (why):

* Arrows are blended with the **normalised Gaussian** Σw·v/Σw, w = exp(−(d/σ)²), σ = 0.3·size/√k:
  the official hint semantics (docs/pipeline.md#hint-maps), closed-form, O(k·pixels) on a 128-px working grid.
  Harmonic (Laplace) interpolation was rejected for arrows: constraints at isolated points are
  ill-posed in 2-D (the solution goes flat between hints, with spikes at them). Each
  connected region only listens to the arrows drawn inside it (regions without arrows use them all),
  so separate regions can move independently; within one non-convex region the blend may reach across
  a concave gap, which is mild because σ shrinks as more arrows are drawn.
* Rivers follow their region: see :mod:`models.flow.river_field` (potential flow along each channel, from
  its branch tips to its downstream end).
* Speed fades to zero at anchors; outside the mask the flow is exactly 0. By default it also fades to zero at the
  mask border (:func:`models.flow.borders.shape_border`'s ``stick``); motion layers shape the border themselves
  (``border_fade=False``, then ``shape_border`` with the layer's border).
* Seeded low-frequency variation (±10° of direction, ±20 % of speed on a ~4-cell grid, zero mean over
  the region) keeps the water from moving like a rigid sheet; the same seed gives the same flow at any
  resolution.

Speed: the default is :data:`DEFAULT_STRENGTH_AT_512` = 1.5 px/frame at 512² and scales with
√(H·W), so every image moves the same fraction of itself per frame (1024² → 3 px/frame). That is
45 px/s at 30 fps, ~9 % of the image per second: clearly alive yet calm. The official pipeline's
effective maximum, 0.5 px/frame, barely moves (30 px over a 2-s loop).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..checks import (
    InputShapeError,
    InputTypeError,
    InputValueError,
    check_int,
    check_mask,
    check_string,
    check_tensor,
    is_number,
)
from ..prompt.direction import parse_direction, truncation_note
from ..prompt.vocabulary import find_prior
from .borders import shape_border
from .hints import MotionHints, gaussian_blend, parse_arrows
from .ops import MAX_MOTION_PX, angle_vector
from .river_field import river_directions
from .smooth import smooth_random_field

DEFAULT_STRENGTH_AT_512 = 1.5
"""Default speed at the region's core in px/frame for a 512² image (scaled by √(H·W)/512)."""
WORK_SIZE = 128
"""Long side of the grid on which direction fields are computed (they are smooth, then upsampled)."""
ANCHOR_RADIUS_FRACTION = 0.05
ANGLE_JITTER_DEG = 10.0
SPEED_JITTER = 0.2
NOISE_CELLS = 4
"""Cells of the random variation per √(H·W): a few broad bends across the region (a rigid sheet would look
fake, a finer pattern would churn the texture)."""
MAX_VARIATION = 3.0
_ARROW_SAMPLES = 5
_ARROW_SIGMA_FRACTION = 0.3


@dataclass(frozen=True)
class FlowResult:
    flow: torch.Tensor
    """[B, 2, H, W] float32 px/frame (x right, y down); exactly 0 outside the mask."""
    angle_used: float | None
    """The single direction that drove the motion (degrees), or None when it varies (arrows, region axis)."""
    source: str
    """What drove the motion, e.g. "direction phrase 'in upwards direction'" or "prior: waterfall → down"."""
    warnings: tuple[str, ...]
    prompt: str
    """The text with the direction phrase removed (the official s1 prompt edit)."""


@dataclass(frozen=True)
class _Plan:
    mode: str  # "angle" | "axis" | "arrows"
    angle: float | None
    speed: float
    source: str


def default_strength(height: int, width: int) -> float:
    """Default core speed in px/frame: 1.5 at 512², proportional to √(H·W)."""
    return DEFAULT_STRENGTH_AT_512 * math.sqrt(height * width) / 512.0


def flow_from_text(
    image: torch.Tensor,
    mask: torch.Tensor,
    text: str = "",
    *,
    region: str = "",
    direction_angle: float | None = None,
    hints: MotionHints | str | None = None,
    strength: float | None = None,
    variation: float = 1.0,
    seed: int = 0,
    sample_sector: bool = False,
    border_fade: bool = True,
    on_step: Callable[[], None] | None = None,
) -> FlowResult:
    """Smooth Eulerian flow [B, 2, H, W] for ``image`` [B|1, 3, H, W] inside ``mask`` ([B|1, 1, h, w],
    [B, h, w] or [h, w]; > 0.5 = moving; resized to H×W if needed).

    ``text``: the prompt (a direction phrase in it steers the motion; class words pick a prior).
    ``region``: words naming the masked region (e.g. "waterfall"), checked for priors before the prompt.
    ``direction_angle``: θ in degrees, overrides the text. ``hints``: arrows/anchors (or their JSON);
    arrows override any direction, anchors always hold still. ``strength``: core speed in px/frame;
    None = :func:`default_strength` (with arrows: None keeps the drawn speeds, a number rescales them so
    the fastest arrow moves ``strength`` px/frame). ``variation``: 0 = rigid, 1 = default wobble.
    ``seed``: the wobble (item b of a batch uses (seed, b)) and, with ``sample_sector``, the draw of θ
    inside an official direction's sector (else its centre). ``border_fade``: fade the speed to zero at the mask
    border (False: leave it to :func:`models.flow.borders.shape_border`). ``on_step()`` runs between the full-size steps
    (a large image takes seconds: an exception it raises, e.g. Cancel, stops the work).
    """
    image_batch, height, width = _validate_image(image)
    masks = check_mask(mask, "mask")
    hints = parse_arrows(hints) if isinstance(hints, str) or hints is None else hints
    _validate_options(text, region, direction_angle, hints, strength, variation, seed)
    batch = _batch_size(image_batch, masks.shape[0])
    warnings: list[str] = []
    if masks.shape[-2:] != (height, width):
        warnings.append(f"mask resized from {masks.shape[-2]}×{masks.shape[-1]} to the image's {height}×{width}")
        masks = F.interpolate(masks, size=(height, width), mode="bilinear", align_corners=False)
    plan, prompt = _plan(text, region, direction_angle, hints, seed if sample_sector else None, warnings)
    base = default_strength(height, width) if strength is None else float(strength)
    binary = (masks > 0.5).squeeze(1).cpu().numpy()
    flows = []
    for b in range(batch):
        item_mask = binary[b if len(binary) > 1 else 0]
        if not item_mask.any():
            warnings.append(f"mask {b} is empty (no pixel above 0.5): its flow is zero; draw or select a region")
            flows.append(np.zeros((2, height, width), dtype=np.float32))
            continue
        flows.append(_item_flow(item_mask, plan, hints, base, strength is not None, variation, (seed, b), warnings,
                                on_step or (lambda: None)))
    flow = torch.from_numpy(np.stack(flows)).to(image.device)
    if border_fade:
        flow = shape_border(flow, masks, "stick", on_step=on_step).flow
    return FlowResult(
        flow=flow, angle_used=plan.angle, source=plan.source, warnings=tuple(dict.fromkeys(warnings)), prompt=prompt
    )


# --- validation and planning -----------------------------------------------------------------------


def _validate_image(image: torch.Tensor) -> tuple[int, int, int]:
    """Only the image's batch and size are used, so its pixel values are not scanned."""
    check_tensor(image, "image", "a torch.Tensor [B, 3, H, W]")
    if image.dim() != 4 or image.shape[1] != 3 or min(image.shape) == 0:
        raise InputShapeError(f"image must have shape [B, 3, H, W] (channels first), got {list(image.shape)}")
    return image.shape[0], image.shape[2], image.shape[3]


def _validate_options(
    text: str,
    region: str,
    direction_angle: float | None,
    hints: MotionHints,
    strength: float | None,
    variation: float,
    seed: int,
) -> None:
    check_string(text, "text")
    check_string(region, "region")
    if not isinstance(hints, MotionHints):
        raise InputTypeError(f"hints must be MotionHints, a JSON string or None, got {type(hints).__name__}")
    if direction_angle is not None and not is_number(direction_angle):
        raise InputValueError(f"direction_angle (Text Flow's `angle`) must be a finite number of degrees or None, "
                              f"got {direction_angle!r}")
    if strength is not None and not (is_number(strength) and 0 <= strength <= MAX_MOTION_PX):
        raise InputValueError(f"strength must be a number of px/frame in [0, {MAX_MOTION_PX:g}] or None (auto), "
                              f"got {strength!r}")
    if not (is_number(variation) and 0 <= variation <= MAX_VARIATION):
        raise InputValueError(f"variation must be a number in [0, {MAX_VARIATION}], got {variation!r}")
    check_int(seed, "seed", 0)


def _batch_size(images: int, masks: int) -> int:
    if images != masks and 1 not in (images, masks):
        raise InputShapeError(f"image batch ({images}) and mask batch ({masks}) must match, or one of them must be 1")
    return max(images, masks)


def _plan(
    text: str,
    region: str,
    direction_angle: float | None,
    hints: MotionHints,
    sector_seed: int | None,
    warnings: list[str],
) -> tuple[_Plan, str]:
    """What drives the motion (arrows > angle > phrase > class prior > region axis) and the edited prompt."""
    parsed = parse_direction(text, seed=sector_seed)
    prompt = parsed.prompt if parsed else text
    if (note := truncation_note(text)) is not None:
        warnings.append(note)
    if hints.arrows:
        if direction_angle is not None or parsed is not None:
            warnings.append("arrows were drawn, so they set the motion; the requested direction is ignored")
        return _Plan("arrows", None, 1.0, f"arrows ({len(hints.arrows)} drawn)"), prompt
    if direction_angle is not None:
        return _Plan("angle", direction_angle % 360.0, 1.0, f"direction angle {direction_angle:g}°"), prompt
    if parsed is not None:
        return _Plan("angle", parsed.angle, 1.0, f"direction phrase '{parsed.phrase}'"), prompt
    if re.search(r"\bdirection\b", text, re.IGNORECASE):
        warnings.append("the text mentions a direction but none was recognised; write e.g. 'in upwards direction', "
                        "'towards the bottom right' or 'at 30 degrees'")
    prior = find_prior(region, prompt)
    if prior is not None:
        mode = "axis" if prior.angle is None else "angle"
        return _Plan(mode, prior.angle, prior.speed, f"prior: {prior.label} → {prior.motion}"), prompt
    return _Plan("axis", None, 1.0, "default: along the region's main axis"), prompt


# --- one batch item ----------------------------------------------------------------------------------


def _item_flow(
    inside: np.ndarray,
    plan: _Plan,
    hints: MotionHints,
    base: float,
    explicit: bool,
    variation: float,
    seed: tuple[int, int],
    warnings: list[str],
    step: Callable[[], None],
) -> np.ndarray:
    """Flow [2, H, W] of one boolean mask; ``base`` is the core speed, ``explicit`` whether the caller set it;
    ``step()`` runs between the full-size steps."""
    height, width = inside.shape
    speed: np.ndarray | float = base * plan.speed
    if plan.mode == "angle":
        direction = np.empty((2, height, width), dtype=np.float32)
        direction[0], direction[1] = angle_vector(plan.angle)
    else:
        low = cv2.resize(inside.astype(np.float32), _work_size(height, width), interpolation=cv2.INTER_AREA) > 0
        # 4-connected regions: the eikonal solver only walks to 4-neighbours
        labels = cv2.connectedComponents(low.astype(np.uint8), connectivity=4)[1]
        if plan.mode == "axis":
            low_direction = river_directions(labels)
        else:
            low_direction, low_speed = _arrow_field(labels, hints, height, width, warnings)
            scale = base / max(_max_arrow_speed(hints, height, width), 1e-9) if explicit else 1.0
            speed = _upsample(low_speed[None] * scale, height, width)[0]
        direction = _upsample(low_direction, height, width)
        direction /= np.maximum(np.linalg.norm(direction, axis=0), 1e-12)
    step()
    angle_noise, speed_noise = _smooth_noise(inside, seed)
    direction = _rotate(direction, np.radians(variation * ANGLE_JITTER_DEG * angle_noise))
    step()
    size = math.sqrt(height * width)
    speed = speed * np.clip(1.0 + variation * SPEED_JITTER * speed_noise, 0.0, None)
    step()
    speed = speed * _anchor_fade(hints, height, width, size)
    step()
    return np.where(inside[None], direction * speed[None], np.float32(0.0)).astype(np.float32)


def _work_size(height: int, width: int) -> tuple[int, int]:
    """(w, h) of the working grid: long side WORK_SIZE (or the image's, if smaller)."""
    scale = min(1.0, WORK_SIZE / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _upsample(field: np.ndarray, height: int, width: int) -> np.ndarray:
    channels = [cv2.resize(np.ascontiguousarray(c, dtype=np.float32), (width, height),
                           interpolation=cv2.INTER_LINEAR) for c in field]
    return np.stack(channels)


def _rotate(direction: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Turn unit vectors (x, y-down) counter-clockwise on screen by ``delta`` radians."""
    ux, uy = direction
    cos, sin = np.cos(delta), np.sin(delta)
    return np.stack([ux * cos + uy * sin, uy * cos - ux * sin]).astype(np.float32)


def _smooth_noise(inside: np.ndarray, seed: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Two fields in about [-1, 1] on a grid of ~NOISE_CELLS cells per √(H·W) (so the same seed bends the flow the
    same way at any size), minus their mean over the region: the variation bends and speeds up the water locally but
    never turns or speeds up the region as a whole."""
    height, width = inside.shape
    size = math.sqrt(height * width)
    grid = (max(1, round(NOISE_CELLS * n / size)) + 1 for n in (height, width))  # n cells span n + 1 samples
    samples = np.random.default_rng(list(seed)).uniform(-1.0, 1.0, (2, *grid))
    fields = smooth_random_field(torch.from_numpy(samples), (height, width)).numpy()
    return tuple(f - f[inside].mean() for f in fields)


def _anchor_fade(hints: MotionHints, height: int, width: int, size: float) -> np.ndarray | float:
    """1 − exp(−(d/r)²) with d the distance to the nearest anchor: exactly still on it, free beyond ~2r."""
    if not hints.anchors:
        return 1.0
    seeds = np.ones((height, width), dtype=np.uint8)
    points = np.rint(hints.anchor_points(height, width)).astype(int)
    seeds[np.clip(points[:, 1], 0, height - 1), np.clip(points[:, 0], 0, width - 1)] = 0
    distance = cv2.distanceTransform(seeds, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return 1.0 - np.exp(-np.square(distance / (ANCHOR_RADIUS_FRACTION * size)))


# --- arrows on the working grid ---------------------------------------------------------------------


def _arrow_field(
    labels: np.ndarray, hints: MotionHints, height: int, width: int, warnings: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions [2, h, w] and speeds [h, w] (px/frame of the full image) blended from the arrows."""
    low_h, low_w = labels.shape
    points, velocity = hints.arrow_samples(height, width, per_arrow=_ARROW_SAMPLES)
    points = (points + 0.5) * np.array([low_w / width, low_h / height]) - 0.5
    speed = np.linalg.norm(velocity, axis=1)
    values = np.concatenate([velocity / speed[:, None], speed[:, None]], axis=1)
    cols = np.clip(np.rint(points[:, 0]).astype(int), 0, low_w - 1)
    rows = np.clip(np.rint(points[:, 1]).astype(int), 0, low_h - 1)
    sample_labels = labels[rows, cols]
    has_own = np.zeros(int(labels.max()) + 1, dtype=bool)
    has_own[sample_labels] = True
    has_own[0] = False
    if not has_own.any():
        warnings.append("no arrow touches the mask; the arrows still steer the masked region from outside")
    pixel_labels = labels.reshape(-1)
    eligible = (sample_labels[:, None] == pixel_labels[None, :]) | ~has_own[pixel_labels][None, :]
    sigma = _ARROW_SIGMA_FRACTION * max(low_h, low_w) / math.sqrt(len(hints.arrows))
    blended = gaussian_blend(points, values, low_h, low_w, sigma, torch.from_numpy(eligible)).numpy()
    direction = blended[:2] / np.maximum(np.linalg.norm(blended[:2], axis=0), 1e-12)
    return direction.astype(np.float32), blended[2].astype(np.float32)


def _max_arrow_speed(hints: MotionHints, height: int, width: int) -> float:
    return float(np.linalg.norm(hints.arrow_samples(height, width)[1], axis=1).max())
