"""Motion hints: official dense hint maps, and the user's arrows/anchors from the motion editor.

Official semantics (PIPELINE.md §5.5–5.6): k hint points with flow vectors are blended into a dense
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
from dataclasses import dataclass

import numpy as np
import torch

HINTS_FORMAT_VERSION = 1
ARROW_SPAN_FRAMES = 60
"""An arrow spans the distance a point travels in this many frames (2 s at 30 fps)."""
MAX_ARROWS = 128
MAX_ANCHORS = 128
MIN_HINT_MASK_PIXELS = 5
"""Official rule: a mask with fewer pixels than this gets an all-zero hint."""
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
        raise TypeError(f"motion hints must be a JSON string, got {type(text).__name__}")
    if not text.strip():
        return MotionHints()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"motion hints are not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}); "
            'expected [[x0, y0, x1, y1], ...] or {"arrows": [...], "anchors": [...]}'
        ) from None
    if isinstance(data, list):
        arrows, anchors = data, []
    elif isinstance(data, dict):
        unknown = sorted(set(data) - {"version", "arrows", "anchors"})
        if unknown:
            raise ValueError(f"motion hints: unknown key(s) {unknown}; allowed: 'version', 'arrows', 'anchors'")
        version = data.get("version", HINTS_FORMAT_VERSION)
        if version != HINTS_FORMAT_VERSION or isinstance(version, bool):
            raise ValueError(f"motion hints: unsupported version {version!r}; this reader knows version 1")
        arrows, anchors = data.get("arrows", []), data.get("anchors", [])
    else:
        raise ValueError(
            f"motion hints must be a JSON list of arrows or an object, got {type(data).__name__}: "
            'use [[x0, y0, x1, y1], ...] or {"arrows": [...], "anchors": [...]}'
        )
    parsed_arrows = _points(arrows, "arrows", 4, MAX_ARROWS)
    for i, (x0, y0, x1, y1) in enumerate(parsed_arrows):
        if x0 == x1 and y0 == y1:
            raise ValueError(f"motion hints: arrow {i} has zero length; drag to draw it, or remove it")
    return MotionHints(arrows=parsed_arrows, anchors=_points(anchors, "anchors", 2, MAX_ANCHORS))


def _points(items: object, key: str, arity: int, limit: int) -> tuple[tuple[float, ...], ...]:
    """Validate a list of fixed-length coordinate lists in 0..1."""
    shape = "[x0, y0, x1, y1]" if arity == 4 else "[x, y]"
    if not isinstance(items, list):
        raise ValueError(f"motion hints: '{key}' must be a list of {shape} lists, got {type(items).__name__}")
    if len(items) > limit:
        raise ValueError(f"motion hints: {len(items)} {key} given, at most {limit} are allowed")
    result = []
    for i, item in enumerate(items):
        where = f"motion hints: {key}[{i}]"
        if not isinstance(item, list):
            raise ValueError(f"{where} must be a list {shape}, got {json.dumps(item)} (wrong nesting?)")
        for value in item:
            if isinstance(value, list):
                raise ValueError(f"{where} contains a list {json.dumps(value)}: wrong nesting, expected {shape}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{where} contains {json.dumps(value)}, expected numbers only")
        if len(item) != arity:
            raise ValueError(f"{where} has {len(item)} numbers, expected {arity}: {shape}")
        for value in item:
            if not math.isfinite(value):
                raise ValueError(f"{where} contains {value}, expected finite numbers")
            if not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"{where} contains {value}, outside 0..1: coordinates are fractions of the image size"
                )
        result.append(tuple(float(v) for v in item))
    return tuple(result)


def mask_batch(mask: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """A mask as float32 [B, 1, H, W]; accepts [H, W], [B, H, W] or [B, 1, H, W], bool or float 0..1."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dim() == 2:
        mask = mask[None, None]
    elif mask.dim() == 3:
        mask = mask[:, None]
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[-1] < 1 or mask.shape[-2] < 1:
        raise ValueError(f"{name} must have shape [H, W], [B, H, W] or [B, 1, H, W], got {list(mask.shape)}")
    if mask.is_complex():
        raise TypeError(f"{name} must be real (bool or float 0..1), got {mask.dtype}")
    mask = mask.float()
    if not torch.isfinite(mask.sum(dtype=torch.float64)):  # one reduction instead of a full isfinite pass
        raise ValueError(f"{name} contains NaN or infinite values")
    return mask


def gaussian_blend(
    points: np.ndarray | torch.Tensor,
    values: np.ndarray | torch.Tensor,
    height: int,
    width: int,
    sigma: float,
    eligible: torch.Tensor | None = None,
) -> torch.Tensor:
    """Normalised Gaussian blend Σw·v / Σw, w = exp(−(dist/σ)²), on an H×W pixel grid → [C, H, W].

    points [k, 2] (x, y) px, values [k, C]. Computed in the log domain so far-away pixels fall back to
    the nearest hints instead of dividing 0 by 0. ``eligible`` [k, H·W] bool restricts which hints
    may reach which pixel (every pixel needs at least one).
    """
    pts = torch.as_tensor(points, dtype=torch.float32).reshape(-1, 2)
    vals = torch.as_tensor(values, dtype=torch.float32)
    vals = vals.reshape(len(pts), -1)
    if len(pts) == 0:
        raise ValueError("gaussian_blend needs at least one hint point")
    if not sigma > 0 or not math.isfinite(sigma):
        raise ValueError(f"sigma must be a positive finite number of pixels, got {sigma}")
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
    return out.reshape(-1, height, width)


def blend_hint_map(
    mask: torch.Tensor,
    points: np.ndarray | torch.Tensor,
    vectors: np.ndarray | torch.Tensor,
    sigma: float | None = None,
) -> torch.Tensor:
    """Official dense hint [B, 2, H, W]: k hints at ``points`` [k, 2] (x, y px) with ``vectors`` [k, 2]
    (x, y) blended with σ = H/k by default, times the binary mask (> 0.5); zero when the mask has
    fewer than 5 pixels."""
    mask = mask_batch(mask)
    points, vectors = np.asarray(points, dtype=np.float64), np.asarray(vectors, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or vectors.shape != points.shape or len(points) == 0:
        raise ValueError(
            f"points and vectors must both be [k, 2] with k ≥ 1, got {list(points.shape)} and {list(vectors.shape)}"
        )
    if not (np.isfinite(points).all() and np.isfinite(vectors).all()):
        raise ValueError("hint points and vectors must be finite")
    height, width = mask.shape[-2:]
    sigma = height / len(points) if sigma is None else sigma
    field = gaussian_blend(points, vectors, height, width, sigma)
    return _apply_hint_mask(mask, field)


def direction_hint_map(mask: torch.Tensor, angle: float) -> torch.Tensor:
    """Official single-hint map [B, 2, H, W]: mask × (cos θ, −sin θ) (the Gaussian weights cancel)."""
    mask = mask_batch(mask)
    if isinstance(angle, bool) or not isinstance(angle, (int, float)) or not math.isfinite(angle):
        raise ValueError(f"angle must be a finite number of degrees, got {angle!r}")
    rad = math.radians(angle)
    field = torch.tensor([math.cos(rad), -math.sin(rad)], dtype=torch.float32)[:, None, None]
    return _apply_hint_mask(mask, field.expand(2, *mask.shape[-2:]))


def _apply_hint_mask(mask: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    binary = (mask > 0.5).float()
    enough = binary.sum(dim=(1, 2, 3), keepdim=True) >= MIN_HINT_MASK_PIXELS
    return field[None] * binary * enough
