"""Motion hints: official dense hint maps, and the user's arrows/anchors from the motion editor.

Official semantics (docs/pipeline.md#hint-maps): k hint points with flow vectors are blended into a dense
field Σw·u / Σw with Gaussian weights w = exp(−(dist/σ)²), σ = H/k, then multiplied by the binary
mask; a mask with fewer than 5 pixels gives an all-zero hint. With one hint the weights cancel, so
the map is simply mask × unit vector.

Arrow JSON format, version 1 (written by the web motion editor, read by :func:`parse_arrows`)::

    {"version": 1, "arrows": [[x0, y0, x1, y1], ...], "anchors": [[x, y], ...]}

or the bare list ``[[x0, y0, x1, y1], ...]`` (arrows only). Coordinates are fractions of the image
(0..1; x to the right, y DOWN; 0 and 1 are the image edges). An arrow is the motion of the water
under it: direction = where it points, length = speed, namely the path a point covers in
``ARROW_SPAN_FRAMES`` = 60 frames (2 s at 30 fps, one default loop). An arrow a fifth of the image
long therefore moves ~1.7 px/frame at 512², and the same drawing moves the same fraction of a
1024² image per frame. Anchors are points that must stay still. "" / "[]" / "{}" mean no hints.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..checks import InputTypeError, InputValueError, check_mask, check_number
from ..prompt.direction import parse_direction
from .ops import MOTION_NORM, angle_vector

HINTS_FORMAT_VERSION = 1
ARROW_SPAN_FRAMES = 60
"""An arrow spans the distance a point travels in this many frames (2 s at 30 fps)."""
MAX_ARROWS = 128
MAX_ANCHORS = 128
MAX_HINTS_CHARS = 256 * 1024
"""Longest motion-hints JSON read: 128 arrows and 128 anchors at full precision, pretty-printed, fit in a tenth."""
MIN_HINT_MASK_PIXELS = 5
"""Official rule: a mask with fewer pixels than this gets an all-zero hint."""
OFFICIAL_HINT_PX_PER_FRAME = MOTION_NORM
"""The official hint is a unit vector in network units: 64 px/frame."""
_BLEND_CHUNK_ELEMENTS = 1 << 22  # bounds the k × pixels weight matrix to ~16 MB per chunk


@dataclass(frozen=True)
class MotionHints:
    """User arrows and anchors in normalised image coordinates (see the module docstring)."""

    arrows: tuple[tuple[float, float, float, float], ...] = ()
    anchors: tuple[tuple[float, float], ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.arrows and not self.anchors

    def to_json(self) -> str:
        """The versioned object form, which :func:`parse_arrows` reads back."""
        return json.dumps(
            {"version": HINTS_FORMAT_VERSION, "arrows": [list(a) for a in self.arrows],
             "anchors": [list(a) for a in self.anchors]}
        )

    def arrow_samples(self, height: int, width: int, per_arrow: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Points along each arrow in pixels (x, y) and the arrow's velocity there in px/frame (x, y).

        ``per_arrow`` = 1 gives the arrow midpoints; more spreads the samples from tail to head, so a
        long arrow steers the water along its whole length.
        """
        if not self.arrows:
            return np.zeros((0, 2)), np.zeros((0, 2))
        arrows = np.asarray(self.arrows, dtype=np.float64)
        fractions = np.array([0.5]) if per_arrow == 1 else np.linspace(0.0, 1.0, per_arrow)
        tail, head = arrows[:, None, :2], arrows[:, None, 2:]
        points = (tail + fractions[None, :, None] * (head - tail)).reshape(-1, 2)
        scale = np.array([width, height], dtype=np.float64)
        velocity = np.repeat((head - tail)[:, 0] * scale / ARROW_SPAN_FRAMES, len(fractions), axis=0)
        return points * scale - 0.5, velocity

    def anchor_points(self, height: int, width: int) -> np.ndarray:
        """Anchors in pixel coordinates (x, y), shape [n, 2]."""
        if not self.anchors:
            return np.zeros((0, 2))
        return np.asarray(self.anchors, dtype=np.float64) * np.array([width, height]) - 0.5


def parse_arrows(text: str | None) -> MotionHints:
    """Read the motion editor's JSON (module docstring); ValueError names the exact problem."""
    if text is None:
        return MotionHints()
    if not isinstance(text, str):
        raise InputTypeError(f"motion hints must be a JSON string, got {type(text).__name__}")
    if not text.strip():
        return MotionHints()
    if len(text) > MAX_HINTS_CHARS:
        raise InputValueError(
            f"motion hints are {len(text):,} characters, at most {MAX_HINTS_CHARS:,} are read "
            f"({MAX_ARROWS} arrows and {MAX_ANCHORS} anchors fit easily): remove arrows or clear the input"
        )
    try:
        data = json.loads(text)
    except RecursionError:
        raise InputValueError(
            "motion hints are nested too deeply to be arrows; "
            'expected [[x0, y0, x1, y1], ...] or {"arrows": [...], "anchors": [...]}'
        ) from None
    except json.JSONDecodeError as error:
        raise InputValueError(
            f"motion hints are not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}); "
            'expected [[x0, y0, x1, y1], ...] or {"arrows": [...], "anchors": [...]}'
        ) from None
    except ValueError:  # an integer of more digits than Python converts (4300)
        raise InputValueError(
            "motion hints hold a number with thousands of digits; coordinates are fractions of the image in 0..1 "
            "(e.g. 0.25): redraw the arrows or fix the number"
        ) from None
    if isinstance(data, list):
        arrows, anchors = data, []
    elif isinstance(data, dict):
        unknown = sorted(set(data) - {"version", "arrows", "anchors"})
        if unknown:
            raise InputValueError(f"motion hints: unknown key(s) {unknown}; allowed: 'version', 'arrows', 'anchors'")
        version = data.get("version", HINTS_FORMAT_VERSION)
        if version != HINTS_FORMAT_VERSION or isinstance(version, bool):
            raise InputValueError(f"motion hints: unsupported version {version!r}; this reader knows version 1")
        arrows, anchors = data.get("arrows", []), data.get("anchors", [])
    else:
        raise InputValueError(
            f"motion hints must be a JSON list of arrows or an object, got {type(data).__name__}: "
            'use [[x0, y0, x1, y1], ...] or {"arrows": [...], "anchors": [...]}'
        )
    parsed_arrows = _points(arrows, "arrows", 4, MAX_ARROWS)
    for i, (x0, y0, x1, y1) in enumerate(parsed_arrows):
        if x0 == x1 and y0 == y1:
            raise InputValueError(f"motion hints: arrow {i} has zero length; drag to draw it, or remove it")
    return MotionHints(arrows=parsed_arrows, anchors=_points(anchors, "anchors", 2, MAX_ANCHORS))


def _short(value: object, limit: int = 60) -> str:
    """A JSON value for a message, cut to ``limit`` characters (deeply nested values included)."""
    try:
        text = json.dumps(value)
    except (RecursionError, ValueError):
        text = "[[[…"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _points(items: object, key: str, arity: int, limit: int) -> tuple[tuple[float, ...], ...]:
    """Validate a list of fixed-length coordinate lists in 0..1."""
    shape = "[x0, y0, x1, y1]" if arity == 4 else "[x, y]"
    if not isinstance(items, list):
        raise InputValueError(f"motion hints: '{key}' must be a list of {shape} lists, got {type(items).__name__}")
    if len(items) > limit:
        raise InputValueError(f"motion hints: {len(items)} {key} given, at most {limit} are allowed")
    result = []
    for i, item in enumerate(items):
        where = f"motion hints: {key}[{i}]"
        if not isinstance(item, list):
            raise InputValueError(f"{where} must be a list {shape}, got {_short(item)} (wrong nesting?)")
        for value in item:
            if isinstance(value, list):
                raise InputValueError(f"{where} contains a list {_short(value)}: wrong nesting, expected {shape}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputValueError(f"{where} contains {_short(value)}, expected numbers only")
        if len(item) != arity:
            raise InputValueError(f"{where} has {len(item)} numbers, expected {arity}: {shape}")
        for value in item:
            if not math.isfinite(value):
                raise InputValueError(f"{where} contains {value}, expected finite numbers")
            if not 0.0 <= value <= 1.0:
                raise InputValueError(
                    f"{where} contains {value}, outside 0..1: coordinates are fractions of the image size"
                )
        result.append(tuple(float(v) for v in item))
    return tuple(result)


def gaussian_blend(
    points: np.ndarray | torch.Tensor,
    values: np.ndarray | torch.Tensor,
    height: int,
    width: int,
    sigma: float,
    eligible: torch.Tensor | None = None,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Normalised Gaussian blend Σw·v / Σw, w = exp(−(dist/σ)²), on an H×W pixel grid → [C, H, W].

    points [k, 2] (x, y) px, values [k, C]. Computed in the log domain so far-away pixels fall back to
    the nearest hints instead of dividing 0 by 0. ``eligible`` [k, H·W] bool restricts which hints
    may reach which pixel (every pixel needs at least one). ``on_step()`` runs after each chunk of pixels (at
    full size, hundreds of hints take seconds: an exception it raises, e.g. Cancel, stops the blend).
    """
    pts = torch.as_tensor(points, dtype=torch.float32).reshape(-1, 2)
    vals = torch.as_tensor(values, dtype=torch.float32)
    vals = vals.reshape(len(pts), -1)
    if len(pts) == 0:
        raise InputValueError("gaussian_blend needs at least one hint point")
    if not sigma > 0 or not math.isfinite(sigma):
        raise InputValueError(f"sigma must be a positive finite number of pixels, got {sigma}")
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                            torch.arange(width, dtype=torch.float32), indexing="ij")
    grid = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
    out = torch.empty(vals.shape[1], height * width)
    chunk = max(1, _BLEND_CHUNK_ELEMENTS // len(pts))
    for start in range(0, height * width, chunk):
        distance = torch.cdist(grid[start : start + chunk], pts, compute_mode="donot_use_mm_for_euclid_dist")
        logits = -distance.square() / sigma**2
        if eligible is not None:
            logits = logits.masked_fill(~eligible[:, start : start + chunk].T, float("-inf"))
        weights = torch.softmax(logits, dim=1)
        out[:, start : start + chunk] = (weights @ vals).T
        if on_step is not None:
            on_step()
    return out.reshape(-1, height, width)


def blend_hint_map(
    mask: torch.Tensor,
    points: np.ndarray | torch.Tensor,
    vectors: np.ndarray | torch.Tensor,
    sigma: float | None = None,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Official dense hint [B, 2, H, W]: k hints at ``points`` [k, 2] (x, y px) with ``vectors`` [k, 2]
    (x, y) blended with σ = H/k by default, times the binary mask (> 0.5); zero when the mask has
    fewer than 5 pixels. ``on_step`` as in :func:`gaussian_blend`."""
    mask = check_mask(mask, "mask")
    points, vectors = np.asarray(points, dtype=np.float64), np.asarray(vectors, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or vectors.shape != points.shape or len(points) == 0:
        raise InputValueError(
            f"points and vectors must both be [k, 2] with k ≥ 1, got {list(points.shape)} and {list(vectors.shape)}"
        )
    if not (np.isfinite(points).all() and np.isfinite(vectors).all()):
        raise InputValueError("hint points and vectors must be finite")
    height, width = mask.shape[-2:]
    sigma = height / len(points) if sigma is None else sigma
    field = gaussian_blend(points, vectors, height, width, sigma, on_step=on_step)
    return _apply_hint_mask(mask, field[None])


def direction_hint(
    mask: torch.Tensor, angle_deg: float, px_per_frame: float = OFFICIAL_HINT_PX_PER_FRAME
) -> torch.Tensor:
    """The official single hint [B, 2, H, W] in px/frame: mask × (cos θ, −sin θ) × ``px_per_frame``.

    One hint point, so the Gaussian weights of :func:`blend_hint_map` cancel (docs/pipeline.md#hint-maps); θ is
    given instead of drawn at random. Like the official, a mask of fewer than 5 pixels gives no hint. The official
    magnitude is one network unit, 64 px/frame, far outside the training hints (real flows divided by 64), so
    only its direction is meaningful; a few px/frame keeps the hint in the training range, at the price of
    departing from the official inference. ``mask``: any layout :func:`models.checks.check_mask` takes.
    """
    mask = check_mask(mask, "mask")
    check_number(angle_deg, "angle_deg", expected="a finite number of degrees")
    check_number(px_per_frame, "px_per_frame", minimum=0.0)
    vector = torch.tensor(angle_vector(angle_deg), dtype=torch.float32, device=mask.device).view(1, 2, 1, 1)
    return _apply_hint_mask(mask, vector * float(px_per_frame))


@dataclass(frozen=True)
class NetworkHint:
    """The hint for the direction-hint network, and what it came from."""

    hint: torch.Tensor
    """[B, 2, H, W] px/frame."""
    source: str
    """e.g. "hint from the drawn arrows" or "hint at 90.0°"."""
    warnings: tuple[str, ...] = ()


def network_hint(mask: torch.Tensor, hints: MotionHints, angle_deg: float | None, text: str,
                 px_per_frame: float = OFFICIAL_HINT_PX_PER_FRAME,
                 on_step: Callable[[], None] | None = None) -> NetworkHint:
    """What the direction-hint network is told: the drawn arrows blended as official hint points, else one hint
    at ``angle_deg`` (the direction combo), else the direction phrase of ``text``; with none of them the hint is
    zero, as in the official code. ``on_step`` as in :func:`gaussian_blend`."""
    if hints.arrows:
        height, width = mask.shape[-2:]
        points, vectors = hints.arrow_samples(height, width)
        return NetworkHint(blend_hint_map(mask, points, vectors, on_step=on_step), "hint from the drawn arrows")
    warnings: tuple[str, ...] = ()
    if angle_deg is None:
        parsed = parse_direction(text)
        angle_deg = parsed.angle if parsed else None
    if angle_deg is None:
        warnings = ("no direction given (combo, arrows or text): the hint is zero, as in the official code",)
        angle_deg, px_per_frame = 0.0, 0.0
    return NetworkHint(direction_hint(mask, angle_deg, px_per_frame), f"hint at {angle_deg:.1f}°", warnings)


def _apply_hint_mask(mask: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """``field`` [1|B, 2, H|1, W|1] on the binary mask (> 0.5); zero for a mask of fewer than 5 pixels."""
    binary = (mask > 0.5).float()
    enough = binary.sum(dim=(1, 2, 3), keepdim=True) >= MIN_HINT_MASK_PIXELS
    return field * binary * enough
