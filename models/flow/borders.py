"""How a layer's motion meets its region's border (docs/layers.md#borders).

Text Flow makes a layer's motion inside its region without any border treatment; :func:`shape_border` then
shapes it for the layer's ``border`` (:data:`models.flow.layers.BORDERS`):

* ``stick``: the speed fades to zero at the border (smoothstep over 3 % of the image, less for thin regions so
  their centre line still reaches full speed): the flow every version before motion layers made. A thin band
  shears (its middle moves, its shores stand still), flow into a still part compresses texture at the border.
* ``slip``: only the component across the border fades (the same smoothstep); motion along the border keeps its
  speed, so a straight channel moves as one piece and nothing shears. Across the border the motion still stops,
  so flow pointing into a still part turns along it.
* ``behind``: no fade at all: the layer keeps its speed up to and across its border and the sharp loop continues
  its traces beyond the region, reading the layer's own texture there (the layer passes behind the still parts).
* ``auto``: ``behind`` where a noticeable share of the border inside the picture has the flow crossing it (flow
  into or out of a still part: passing behind is the only choice that neither piles texture up nor stretches it)
  and the region moves as one piece, still slipping along the parts of the border the flow runs along; else
  ``slip`` (motion along its border: a channel, a band of sky; or a flow that fans out).

Borders of the picture itself are never faded by ``slip`` or counted by ``auto``: beyond the picture the sharp loop
already continues the motion.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..checks import InputValueError, check_flow, check_nchw
from .layers import BORDERS, OWNER_THRESHOLD
from .ops import smoothstep

FADE_FRACTION = 0.03
"""Width of the fade band as a fraction of √(H·W) (3 %: 15 px at 512²), capped at the region's half-width."""
AUTO_TRANSLATION = 0.95
"""``auto`` passes behind only a region that moves as one piece (:func:`translation` at least this): continuing a
translation beyond the region is faithful, continuing a flow that spreads out or turns at its border (a lake fed by
a waterfall, arrows fanning out) carries reads far into mirrored texture. Measured: the bundled scenes that move in
one direction are ≥ 0.99 and pass behind well; the sample painting's fanning arrows are 0.79 and keep coherence
0.86 with slip against 0.81 behind (docs/layers.md#the-auto-policy)."""
CROSSING_COSINE = 0.5
"""A border pixel's flow crosses the border when |cos| between the flow and the border's normal exceeds this
(more than 30° away from running along the border)."""
ALONG_COSINE = 0.25
"""``auto``'s behind still slips where |cos| to the normal is below this (the flow runs within ~15° of the border:
the flow engine's ±10° wobble), fading to passing behind at CROSSING_COSINE: traces along the border keep to it
instead of drifting across it and carrying its rim into the layer."""
AUTO_BEHIND_SHARE = 0.05
"""``auto`` passes behind when more than this share of the region's inner border (speed-weighted) has the flow
crossing it. A channel or band running along its border crosses ~0 % (its ±10° wobble stays under 30°); a band 3×
longer than wide that runs into a still block at its end crosses ~15 % (the end); docs/layers.md#the-auto-policy."""


class BorderResult(NamedTuple):
    flow: torch.Tensor
    """[B, 2, H, W] the flow shaped for ``border`` (0 outside the region, as it came)."""
    border: str
    """The border applied: one of ``behind``, ``slip``, ``stick`` (never ``auto``)."""
    note: str
    """What ``auto`` chose and why ("" for an explicit border), for Text Flow's ``info``."""


def shape_border(flow: torch.Tensor, mask: torch.Tensor, border: str, *,
                 on_step: Callable[[], None] | None = None) -> BorderResult:
    """Shape ``flow`` [B, 2, H, W] (a layer's motion inside its region, no border fade) for ``border`` (one of
    :data:`BORDERS`) at the border of ``mask`` [B|1, 1, h, w] 0..1 (> 0.5 = the region; resized to H×W if needed).
    ``on_step()`` runs between batch items (an exception it raises, e.g. Cancel, stops the work)."""
    check_flow(flow)
    check_nchw(mask, "mask", channels=1)
    if border not in BORDERS:
        raise InputValueError(f"border must be one of {BORDERS}, got {border!r}")
    if mask.shape[0] not in (1, flow.shape[0]):
        raise InputValueError(f"mask batch ({mask.shape[0]}) must be 1 or match the flow batch ({flow.shape[0]})")
    height, width = flow.shape[-2:]
    if mask.shape[-2:] != (height, width):
        mask = F.interpolate(mask.float(), size=(height, width), mode="bilinear", align_corners=False)
    inside = (mask > OWNER_THRESHOLD)[:, 0].cpu().numpy()
    vectors = flow.detach().float().cpu().numpy()
    note, mixed = "", border == "auto"
    if border == "auto":
        border, note = _auto(vectors, inside)
    if border == "behind" and not mixed:
        return BorderResult(flow, border, note)
    size = math.sqrt(height * width)
    shaped = []
    for b in range(flow.shape[0]):
        item = inside[b if len(inside) > 1 else 0]
        shaped.append(_stick(vectors[b], item, size) if border == "stick"
                      else _slip(vectors[b], item, size, crossing_kept=border == "behind"))
        if on_step is not None:
            on_step()
    return BorderResult(torch.from_numpy(np.stack(shaped)).to(flow.device), border, note)


def border_fade(inside: np.ndarray, size: float) -> np.ndarray:
    """[H, W] float32: 0 at the region's border → 1 inside, over FADE_FRACTION of ``size`` (√(H·W)) or the
    region's half-width if thinner. The picture's edge is not a border (the distance transform ignores it)."""
    distance = _distance(inside)
    count, labels = cv2.connectedComponents(inside.astype(np.uint8), connectivity=8)
    deepest = np.zeros(count, dtype=np.float32)
    np.maximum.at(deepest, labels.ravel(), distance.ravel())
    width = np.minimum(max(FADE_FRACTION * size, 1.0), np.maximum(deepest, 1.0))[labels]
    return smoothstep(distance / width)


def _distance(inside: np.ndarray) -> np.ndarray:
    return cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _stick(flow: np.ndarray, inside: np.ndarray, size: float) -> np.ndarray:
    return flow * border_fade(inside, size)[None]


def _inner_normal(inside: np.ndarray) -> np.ndarray:
    """Unit normals [2, H, W] pointing into the region: the distance transform's gradient (zero where no border
    is near: a region that fills the picture has none)."""
    distance = _distance(inside)
    distance = np.where(distance > inside.size, np.float32(0.0), distance)  # no border at all: "infinitely" far
    gy, gx = np.gradient(distance)
    normal = np.stack((gx, gy))
    return (normal / np.maximum(np.linalg.norm(normal, axis=0), 1e-6)).astype(np.float32)


def _slip(flow: np.ndarray, inside: np.ndarray, size: float, crossing_kept: bool = False) -> np.ndarray:
    """Fade only the component along the inner normal, with the same smoothstep as ``stick``; with
    ``crossing_kept`` only where the flow runs along the border (``auto``'s behind: where it crosses the border it
    keeps its speed and passes behind, along the rest of the border it slips)."""
    normal = _inner_normal(inside)
    across = (flow * normal).sum(axis=0, keepdims=True)
    fade = 1.0 - border_fade(inside, size)
    if crossing_kept:
        cosine = np.abs(across[0]) / np.maximum(np.linalg.norm(flow, axis=0), 1e-12)
        fade = fade * (1.0 - smoothstep((cosine - ALONG_COSINE) / (CROSSING_COSINE - ALONG_COSINE)))
    return (flow - fade[None] * across * normal).astype(np.float32)


def crossing_share(flow: np.ndarray, inside: np.ndarray) -> float:
    """Speed-weighted share of the region's inner border (its pixels next to a still part, not the picture's
    edge) where the flow [2, H, W] crosses the border (|cos| to the normal > CROSSING_COSINE); 0 without one."""
    normal = _inner_normal(inside)
    rim = inside & (_distance(inside) <= 1.5)
    speed = np.linalg.norm(flow, axis=0)
    weight = speed[rim]
    if weight.sum() <= 0:
        return 0.0
    cosine = np.abs((flow * normal).sum(axis=0))[rim] / np.maximum(weight, 1e-12)
    return float((weight * (cosine > CROSSING_COSINE)).sum() / weight.sum())


def translation(flow: np.ndarray, inside: np.ndarray) -> float:
    """How much the region moves as one piece: |Σv| ÷ Σ|v| over it (1 = one direction everywhere; a flow that
    spreads out or turns is lower); 1 for a still region."""
    vectors = flow[:, inside]
    total = float(np.linalg.norm(vectors, axis=0).sum())
    return float(np.linalg.norm(vectors.sum(axis=1))) / total if total > 0 else 1.0


def _auto(flow: np.ndarray, inside: np.ndarray) -> tuple[str, str]:
    """The border for a layer whose flow [B, 2, H, W] fills ``inside`` [B|1, H, W] (module docstring)."""
    items = [(flow[b], inside[b if len(inside) > 1 else 0]) for b in range(len(flow))]
    share = max(crossing_share(*item) for item in items)
    oneness = min(translation(*item) for item in items)
    if share > AUTO_BEHIND_SHARE and oneness >= AUTO_TRANSLATION:
        return "behind", (f"border auto → behind: the motion crosses {share:.0%} of the region's border, so the "
                          "layer passes behind what is not itself there (and slips along the rest of its border)")
    if share > AUTO_BEHIND_SHARE:
        return "slip", (f"border auto → slip: the motion crosses {share:.0%} of the region's border but spreads out "
                        f"or turns (it moves {oneness:.0%} as one piece), so it slips along the border instead of "
                        "passing behind it")
    return "slip", (f"border auto → slip: the motion runs along the region's border (it crosses only {share:.0%} "
                    "of it), so it keeps its speed along it")
