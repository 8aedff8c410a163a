"""Learning-free flow engine: image + region mask + (direction | arrows | class prior) → Eulerian flow.

What drives the motion, first match wins: the user's arrows, an explicit angle, a direction phrase in
the text ("in upwards direction", "towards the bottom right", "at 30°" …), a class word in the region
label or the prompt (:data:`CLASS_PRIORS`), else the region's own shape.

Design choices (why):

* Arrows are blended with the **normalised Gaussian** Σw·v/Σw, w = exp(−(d/σ)²) — the official hint
  semantics (PIPELINE.md §5.5), closed-form, O(k·pixels) on a 128-px working grid, and never fails to
  converge (a harmonic/Laplace solve would need a multigrid solver to run in milliseconds). Each
  connected region only listens to the arrows drawn inside it (regions without arrows use them all),
  so separate regions can move independently; within one non-convex region the blend may reach across
  a concave gap, which is mild because σ shrinks as more arrows are drawn.
* Rivers follow their region: per connected region the flow runs along the gradient of a potential
  from its upstream to its downstream end: the **geodesic distance** inside the mask (so a curved
  river bends with its banks) relaxed towards the **harmonic** (potential-flow) solution, whose
  gradient runs parallel to the banks. The ends come from the region's PCA main axis, oriented so
  that water flows towards the viewer (down the image) unless the region lies within 15° of
  horizontal, in which case it flows left → right. Roundish regions (axis ratio < 1.5) have no main
  axis and flow down.
* Speed fades to zero at the mask border (smoothstep over 3 % of the image, less for thin regions so
  their centre line still reaches full speed) and at anchors; outside the mask the flow is exactly 0.
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
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .direction import parse_direction
from .hints import MotionHints, gaussian_blend, mask_batch, parse_arrows

DEFAULT_STRENGTH_AT_512 = 1.5
"""Default speed at the region's core in px/frame for a 512² image (scaled by √(H·W)/512)."""
WORK_SIZE = 128
"""Long side of the grid on which direction fields are computed (they are smooth, then upsampled)."""
FADE_FRACTION = 0.03
ANCHOR_RADIUS_FRACTION = 0.05
ANGLE_JITTER_DEG = 10.0
SPEED_JITTER = 0.2
NOISE_CELLS = 4
MAX_VARIATION = 3.0
_STEEP = math.sin(math.radians(15.0))  # flows down unless within 15° of horizontal, then left → right
_MIN_ELONGATION = 1.5  # PCA variance ratio below which a region is "round" and flows down
_MIN_CHANNEL_ELONGATION = 3.0  # length / mean width from which a region is a channel that bends
_HORIZONTAL = np.array([[1, 0, 1]], dtype=np.uint8)  # erosion with it = min(left, right) neighbour
_VERTICAL = _HORIZONTAL.T.copy()
_UNREACHED = np.float32(1e30)  # cv2.erode pads with the largest float32, not inf
_HARMONIC_SWEEPS = 300
_ARROW_SAMPLES = 5
_ARROW_SIGMA_FRACTION = 0.3


@dataclass(frozen=True)
class ClassPrior:
    """How a kind of region moves when the text gives no direction."""

    label: str
    words: tuple[str, ...]
    angle: float | None
    """θ in degrees, or None to flow along the region's main axis."""
    speed: float
    """Multiplier of the strength."""
    motion: str
    """Plain words for the result's ``source`` line."""


CLASS_PRIORS: tuple[ClassPrior, ...] = (
    ClassPrior("waterfall", ("waterfall", "waterfalls", "falls", "cascade", "cascades"), 270.0, 1.3, "down"),
    ClassPrior("river", ("river", "rivers", "stream", "streams", "creek", "creeks", "brook", "rapids"),
               None, 1.0, "along the region's axis"),
    ClassPrior("sea", ("sea", "seas", "ocean", "oceans", "wave", "waves", "lake", "lakes", "pond"),
               270.0, 0.5, "gently towards the viewer"),
    ClassPrior("clouds", ("cloud", "clouds", "sky", "skies", "fog", "mist", "haze"), 0.0, 0.6, "horizontal"),
    ClassPrior("smoke", ("smoke", "steam", "fire", "fires", "flame", "flames", "vapour", "vapor"), 90.0, 0.8, "up"),
)
"""Class words → motion, used when no direction is given (region words first, then the prompt; the
earliest word in a text wins, since a prompt usually names its subject first)."""


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


def find_prior(*texts: str) -> ClassPrior | None:
    """The prior of the first text that names a class (earliest word within it), else None."""
    for text in texts:
        hits = []
        for prior in CLASS_PRIORS:
            match = _prior_pattern(prior).search(text)
            if match:
                hits.append((match.start(), prior))
        if hits:
            return min(hits, key=lambda hit: hit[0])[1]
    return None


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
    inside an official direction's sector (else its centre).
    """
    image_batch, height, width = _validate_image(image)
    masks = mask_batch(mask)
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
        flows.append(_item_flow(item_mask, plan, hints, base, strength is not None, variation, (seed, b), warnings))
    flow = torch.from_numpy(np.stack(flows)).to(image.device)
    return FlowResult(
        flow=flow, angle_used=plan.angle, source=plan.source, warnings=tuple(dict.fromkeys(warnings)), prompt=prompt
    )


# --- validation and planning -----------------------------------------------------------------------


def _validate_image(image: torch.Tensor) -> tuple[int, int, int]:
    """Only the image's batch and size are used, so its pixel values are not scanned."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a torch.Tensor [B, 3, H, W], got {type(image).__name__}")
    if image.dim() != 4 or image.shape[1] != 3 or min(image.shape) == 0:
        raise ValueError(f"image must have shape [B, 3, H, W] (channels first), got {list(image.shape)}")
    return image.shape[0], image.shape[2], image.shape[3]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _validate_options(
    text: str,
    region: str,
    direction_angle: float | None,
    hints: MotionHints,
    strength: float | None,
    variation: float,
    seed: int,
) -> None:
    for name, value in (("text", text), ("region", region)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not isinstance(hints, MotionHints):
        raise TypeError(f"hints must be MotionHints, a JSON string or None, got {type(hints).__name__}")
    if direction_angle is not None and not _is_number(direction_angle):
        raise ValueError(f"direction_angle must be a finite number of degrees or None, got {direction_angle!r}")
    if strength is not None and not (_is_number(strength) and strength >= 0):
        raise ValueError(f"strength must be a finite number of px/frame ≥ 0 or None (auto), got {strength!r}")
    if not (_is_number(variation) and 0 <= variation <= MAX_VARIATION):
        raise ValueError(f"variation must be a number in [0, {MAX_VARIATION}], got {variation!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int ≥ 0, got {seed!r}")


def _batch_size(images: int, masks: int) -> int:
    if images != masks and 1 not in (images, masks):
        raise ValueError(f"image batch ({images}) and mask batch ({masks}) must match, or one of them must be 1")
    return max(images, masks)


def _prior_pattern(prior: ClassPrior) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{'|'.join(prior.words)})\b", re.IGNORECASE)


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
) -> np.ndarray:
    """Flow [2, H, W] of one boolean mask; ``base`` is the core speed, ``explicit`` whether the caller set it."""
    height, width = inside.shape
    speed: np.ndarray | float = base * plan.speed
    if plan.mode == "angle":
        rad = math.radians(plan.angle)
        direction = np.empty((2, height, width), dtype=np.float32)
        direction[0], direction[1] = math.cos(rad), -math.sin(rad)
    else:
        low = cv2.resize(inside.astype(np.float32), _work_size(height, width), interpolation=cv2.INTER_AREA) > 0
        # 4-connected regions: the eikonal solver only walks to 4-neighbours
        labels = cv2.connectedComponents(low.astype(np.uint8), connectivity=4)[1]
        if plan.mode == "axis":
            low_direction = _axis_field(labels)
        else:
            low_direction, low_speed = _arrow_field(labels, hints, height, width, warnings)
            scale = base / max(_max_arrow_speed(hints, height, width), 1e-9) if explicit else 1.0
            speed = _upsample(low_speed[None] * scale, height, width)[0]
        direction = _upsample(low_direction, height, width)
        direction /= np.maximum(np.linalg.norm(direction, axis=0), 1e-12)
    angle_noise, speed_noise = _smooth_noise(inside, seed)
    direction = _rotate(direction, np.radians(variation * ANGLE_JITTER_DEG * angle_noise))
    size = math.sqrt(height * width)
    speed = speed * np.clip(1.0 + variation * SPEED_JITTER * speed_noise, 0.0, None)
    speed = speed * _border_fade(inside, size) * _anchor_fade(hints, height, width, size)
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
    """Two low-frequency fields in about [-1, 1] with zero mean over the region, fixed relative to the image."""
    height, width = inside.shape
    size = math.sqrt(height * width)
    cells = (max(1, round(NOISE_CELLS * height / size)) + 1, max(1, round(NOISE_CELLS * width / size)) + 1)
    grid = np.random.default_rng(list(seed)).uniform(-1.0, 1.0, size=(2, *cells)).astype(np.float32)
    fields = [cv2.resize(g, (width, height), interpolation=cv2.INTER_CUBIC) for g in grid]
    return tuple(f - f[inside].mean() for f in fields)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _border_fade(inside: np.ndarray, size: float) -> np.ndarray:
    """0 at the mask border → 1 inside, over 3 % of the image or the region's half-width if thinner."""
    distance = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    count, labels = cv2.connectedComponents(inside.astype(np.uint8), connectivity=8)
    deepest = np.zeros(count, dtype=np.float32)
    np.maximum.at(deepest, labels.ravel(), distance.ravel())
    width = np.minimum(max(FADE_FRACTION * size, 1.0), np.maximum(deepest, 1.0))[labels]
    return _smoothstep(distance / width)


def _anchor_fade(hints: MotionHints, height: int, width: int, size: float) -> np.ndarray | float:
    """1 − exp(−(d/r)²) with d the distance to the nearest anchor: exactly still on it, free beyond ~2r."""
    if not hints.anchors:
        return 1.0
    seeds = np.ones((height, width), dtype=np.uint8)
    points = np.rint(hints.anchor_points(height, width)).astype(int)
    seeds[np.clip(points[:, 1], 0, height - 1), np.clip(points[:, 0], 0, width - 1)] = 0
    distance = cv2.distanceTransform(seeds, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return 1.0 - np.exp(-np.square(distance / (ANCHOR_RADIUS_FRACTION * size)))


# --- direction fields on the working grid -------------------------------------------------------------


def _axis_field(labels: np.ndarray) -> np.ndarray:
    """Unit vectors [2, h, w] along each region: channels flow from their branch tips to the downstream end."""
    count = int(labels.max()) + 1
    inside = labels > 0
    ys, xs = np.nonzero(inside)
    lab = labels[ys, xs]
    ax, ay, _ = _region_axes(xs, ys, lab, count)
    from_upstream, from_downstream, length, width = _channel_ends(inside, ys, xs, lab, count)
    channel = length >= _MIN_CHANNEL_ELONGATION * width
    cap = (0.5 * width)[labels]
    sink = inside & (from_upstream >= length[labels] - cap) & (from_downstream <= 2 * cap)
    source = inside & (from_downstream >= length[labels] - cap) & (from_upstream <= 2 * cap) & ~sink
    potential = _harmonic_relaxation(_geodesic_distance(inside, sink), labels, sink, source)
    gx, gy = _masked_gradient(potential, inside)
    norm = np.hypot(gx, gy)
    along = channel[labels] & (norm > 1e-6)
    gx = np.where(along, -gx / np.maximum(norm, 1e-12), ax[labels])
    gy = np.where(along, -gy / np.maximum(norm, 1e-12), ay[labels])
    return _smooth_directions(_copy_into_caps(np.stack([gx, gy]), labels, sink | source), inside)


def _channel_ends(
    inside: np.ndarray, ys: np.ndarray, xs: np.ndarray, lab: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Geodesic distances from each region's upstream and downstream end, its length and mean width.

    The ends are those of the region's longest path (a double geodesic sweep from an arbitrary pixel),
    each moved to the middle of its end (the pixel farthest from the banks there) so that the distance
    fronts cross the channel square rather than tilted towards a corner. Downstream is the end lower in
    the image, or the right one when the ends lie within 15° of horizontal.
    """
    first = np.unique(lab, return_index=True)[1]
    end_a = _region_argmax(_geodesic_distance(inside, _pixels(inside.shape, ys[first], xs[first]))[ys, xs], lab)
    from_a = _geodesic_distance(inside, _pixels(inside.shape, ys[end_a], xs[end_a]))[ys, xs]
    end_b = _region_argmax(from_a, lab)
    from_b = _geodesic_distance(inside, _pixels(inside.shape, ys[end_b], xs[end_b]))[ys, xs]
    length = np.r_[0.0, from_a[end_b]]
    width = np.bincount(lab, minlength=count) / np.maximum(length, 1.0)
    centrality = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[ys, xs]
    # the most central pixels (to a pixel) near each end, and among them the farthest from the other end
    end_a = _region_argmax(np.where(from_b >= (length - width)[lab], centrality.round() + from_b / 1e4, -1.0), lab)
    end_b = _region_argmax(np.where(from_a >= (length - width)[lab], centrality.round() + from_a / 1e4, -1.0), lab)
    dx, dy = np.r_[0, xs[end_b] - xs[end_a]], np.r_[0, ys[end_b] - ys[end_a]]
    b_downstream = np.where(np.abs(dy) >= _STEEP * np.hypot(dx, dy), dy > 0, dx > 0)[1:]
    up, down = np.where(b_downstream, end_a, end_b), np.where(b_downstream, end_b, end_a)
    from_up = _geodesic_distance(inside, _pixels(inside.shape, ys[up], xs[up]))
    from_down = _geodesic_distance(inside, _pixels(inside.shape, ys[down], xs[down]))
    length = np.r_[0.0, from_up[ys[down], xs[down]]]
    return from_up, from_down, length, np.bincount(lab, minlength=count) / np.maximum(length, 1.0)


def _copy_into_caps(direction: np.ndarray, labels: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """The end caps are held flat, so they have no gradient: give them (and a 2-pixel seam, where one-sided
    differences are noisy) the direction of the nearest pixel of the same region beyond."""
    caps = cv2.dilate(caps.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & (labels > 0)
    keep = (labels > 0) & ~caps
    if not keep.any():
        return direction
    nearest = cv2.distanceTransformWithLabels(
        np.where(keep, 0, 1).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )[1] - 1
    keep_y, keep_x = np.nonzero(keep)  # label k is the k-th kept pixel in raster order
    from_y, from_x = keep_y[nearest], keep_x[nearest]
    fill = caps & (labels[from_y, from_x] == labels)
    filled = direction.copy()
    filled[:, fill] = direction[:, from_y[fill], from_x[fill]]
    return filled


def _pixels(shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    marked = np.zeros(shape, dtype=bool)
    marked[ys, xs] = True
    return marked


def _region_argmax(values: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Index (into the in-mask pixel list) of each region's largest value, regions in label order."""
    order = np.lexsort((values, lab))
    return order[np.r_[np.nonzero(np.diff(lab[order]))[0], len(order) - 1]]


def _region_axes(
    xs: np.ndarray, ys: np.ndarray, lab: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per region: oriented PCA main axis (x, y-down) and whether the region is elongated enough to have one.

    Downstream is down the image (towards the viewer), or left → right for regions within 15° of
    horizontal; roundish regions get "down".
    """
    n = np.bincount(lab, minlength=count).astype(np.float64).clip(min=1)
    mx, my = np.bincount(lab, xs, count) / n, np.bincount(lab, ys, count) / n
    dx, dy = xs - mx[lab], ys - my[lab]
    cxx, cyy, cxy = (np.bincount(lab, v, count) / n for v in (dx * dx, dy * dy, dx * dy))
    phi = 0.5 * np.arctan2(2 * cxy, cxx - cyy)
    spread = np.sqrt(((cxx - cyy) / 2) ** 2 + cxy**2)
    elongated = (cxx + cyy) / 2 + spread > _MIN_ELONGATION * np.maximum((cxx + cyy) / 2 - spread, 1e-9)
    ax, ay = np.where(elongated, np.cos(phi), 0.0), np.where(elongated, np.sin(phi), 1.0)
    flip = np.where(np.abs(ay) >= _STEEP, ay < 0, ax < 0)
    return np.where(flip, -ax, ax), np.where(flip, -ay, ay), elongated


def _harmonic_relaxation(to_sink: np.ndarray, labels: np.ndarray, sink: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Relax the geodesic distance to the downstream end towards a harmonic potential.

    The geodesic distance is right on the large scale (it follows bends, and every branch tip is a local
    maximum, so tributaries drain into the main channel) but cuts inside corners and carries the chamfer
    metric's 45° artefacts. Holding the downstream end at 0, the upstream end at its highest level and
    the branch tips at theirs, and relaxing the rest with no flow through the banks (Neumann), makes the
    gradient run parallel to the banks. A few hundred Jacobi sweeps suffice: only local errors are left.
    """
    inside = labels > 0
    potential = np.where(inside, to_sink, 0.0)
    neighbourhood = np.where(inside, potential, -1.0).astype(np.float32)
    peaks = inside & (potential >= cv2.dilate(neighbourhood, np.ones((5, 5), np.uint8)))
    top = np.zeros(int(labels.max()) + 1)
    np.maximum.at(top, labels[source], potential[source])
    potential[source] = top[labels[source]]
    fixed = sink | source | peaks | ~inside
    height, width = inside.shape
    weights = np.pad(inside.astype(np.float64), 1)
    shifts = [(dy, dx) for dy in (0, 1, 2) for dx in (0, 1, 2) if (dy, dx) != (1, 1)]
    count = sum(weights[dy : dy + height, dx : dx + width] for dy, dx in shifts)
    for _ in range(_HARMONIC_SWEEPS):
        padded = np.pad(potential, 1) * weights
        total = sum(padded[dy : dy + height, dx : dx + width] for dy, dx in shifts)
        potential = np.where(fixed, potential, total / np.maximum(count, 1.0))
    return potential


def _geodesic_distance(inside: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Distance from ``sources`` through ``inside`` pixels: the eikonal equation |∇d| = 1 solved by parallel
    Godunov updates (each sweep is two grey-level erosions, as many sweeps as the longest path is long).

    Unlike a chamfer metric, whose fronts are octagons (tilted by up to 22.5°), its fronts are close to
    circles, so distance gradients and end caps square up with the channel.
    """
    height, width = inside.shape
    distance = np.where(sources & inside, 0.0, np.inf).astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        for _ in range(4 * (height + width)):
            across, along = cv2.erode(distance, _HORIZONTAL), cv2.erode(distance, _VERTICAL)
            gap = np.abs(across - along)
            two_sided = (across + along + np.sqrt(np.clip(2.0 - gap * gap, 0.0, None))) / 2.0
            update = np.where(gap < 1.0, two_sided, np.minimum(across, along) + 1.0)
            update = np.where(update < _UNREACHED, update, np.float32(np.inf))
            relaxed = np.where(inside, np.minimum(distance, update), np.float32(np.inf))
            if np.array_equal(relaxed, distance):
                break
            distance = relaxed
    return distance


def _masked_gradient(values: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central differences using only in-mask neighbours (one-sided at the border, 0 if isolated)."""
    height, width = inside.shape
    values = np.where(inside, values, 0.0)
    padded = np.pad(values, 1)
    valid = np.pad(inside, 1)

    def shifted(array: np.ndarray, dy: int, dx: int) -> np.ndarray:
        return array[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]

    gradients = []
    for dy, dx in ((0, 1), (1, 0)):
        after, before = shifted(padded, dy, dx), shifted(padded, -dy, -dx)
        has_after, has_before = shifted(valid, dy, dx), shifted(valid, -dy, -dx)
        one_sided = np.where(has_after, after - values, np.where(has_before, values - before, 0.0))
        gradients.append(np.where(has_after & has_before, (after - before) / 2.0, one_sided) * inside)
    return gradients[0], gradients[1]


def _smooth_directions(direction: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Masked, normalised Gaussian smoothing of unit vectors; also extends them a few pixels outside."""
    sigma = max(1.0, 0.015 * max(inside.shape))
    weight = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), sigma)
    smooth = np.stack([cv2.GaussianBlur((c * inside).astype(np.float32), (0, 0), sigma) for c in direction])
    smooth = smooth / np.maximum(weight, 1e-6)
    return (smooth / np.maximum(np.linalg.norm(smooth, axis=0), 1e-12)).astype(np.float32)


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
