"""Which stagger pattern a sharp loop's plan keeps: one that does not hide the still's detail.

A feature the flow carries shows in the forward phase where it has arrived (i steps downstream) and in the backward
phase where it comes from (L − i steps upstream). Where the pixel downstream has already switched to the backward
phase and the pixel upstream has not yet, the feature shows in neither, and the frame loses that detail; where the
order is the other way round it shows twice. Which happens depends on the random stagger pattern
(docs/layers.md#seeds: a lake whose detail sits in one glittering column kept 0.95 of its contrast in every frame
with one pattern and fell to 0.73 with another). So the plan predicts, for the pattern it was asked for, how much of
the still's detail every frame of the cycle shows (:func:`shown_detail`, from traces of a coarse grid of points);
where some frame loses more than 1 − KEEP_DETAIL of it, it draws STAGGER_CANDIDATES − 1 more patterns and keeps the
one predicted to keep most (:func:`choose_candidates`). A pattern predicted to keep KEEP_DETAIL is never replaced, so
most loops are exactly what the seed's pattern makes. The prediction is rough (off by up to 0.17 on single patterns,
docs/layers.md#seeds) but tells patterns that hide much from those that do not.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..flow.ops import smoothstep
from ..flow.smooth import gaussian_blur
from .euler import EulerState
from .sharp_resample import read_bilinear

STAGGER_CANDIDATES = 8
"""Patterns tried where the one asked for is predicted to lose detail (the first is that one)."""
CANDIDATE_SEED_STEP = 100_003
"""Candidate j of stagger seed s is drawn with seed s + j·100003 (a prime, far from the layers' and cycles' steps)."""
KEEP_DETAIL = 0.95
"""Predicted share of the still's detail (√ of its energy) every frame keeps above which a pattern is kept."""
CORE_PX = 8
"""Detail within this many px of the region's border is not counted: a mask border cutting a strong edge (a shore)
would outweigh the texture the flow carries, and the border's feather mixes in the still there anyway."""
HIGH_PASS_SIGMA = 2.0
"""px: the detail is the still minus its blur of this σ."""
DETAIL_FLOOR = (2 / 255) ** 2
"""Detail energy a point needs to count (an rms of two 8-bit steps): fainter detail is not seen missing (a smooth
gradient, the tail of a still part's edge), and with no detail anywhere the pattern asked for is kept."""
PREDICTION_POINTS = 64
"""Most points along the longer side of the grid the prediction traces (a sub-grid of the plan's analysis grid)."""


def candidate_seed(seed: int, candidate: int) -> int:
    return seed + candidate * CANDIDATE_SEED_STEP


def still_detail(image: torch.Tensor) -> torch.Tensor:
    """The still's detail energy [B, 1, H, W]: its squared high-pass (gray, σ = HIGH_PASS_SIGMA), made once for all
    the layers of a plan from ``image`` [B, 3, H, W]."""
    gray = image.float().mean(dim=1, keepdim=True)
    return (gray - gaussian_blur(gray, HIGH_PASS_SIGMA)).square_()


def point_detail(detail: torch.Tensor, moving: torch.Tensor, rows: slice, cols: slice,
                 spacing: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The detail energy [B, Gh, Gw] in the cell of each point of the grid every ``spacing`` px of the box ``rows`` ×
    ``cols`` (the mean of ``detail`` [B|1, 1, H, W] there), and which points count [B, Gh·Gw]: those whose cell lies
    mostly ≥ CORE_PX inside ``moving`` [B|1, H, W]. Elsewhere the energy is the counted points' mean (a trace reading
    beyond the region reads the layer's own texture). The energy has the larger batch (one flow for several
    pictures: a choice per picture)."""
    height, width = moving.shape[-2:]
    top, left = max(0, rows.start - CORE_PX), max(0, cols.start - CORE_PX)
    box = (slice(top, min(height, rows.stop + CORE_PX)), slice(left, min(width, cols.stop + CORE_PX)))
    core = _eroded(moving[:, None, box[0], box[1]].float(), CORE_PX)  # the box and what erodes it
    core = core[..., rows.start - top: rows.stop - top, cols.start - left: cols.stop - left]
    points = (len(range(rows.start, rows.stop, spacing)), len(range(cols.start, cols.stop, spacing)))

    def cells(values: torch.Tensor) -> torch.Tensor:
        """Sums over the cells centred on the points (those at the box's edge cut short)."""
        half = spacing // 2
        padded = F.pad(values, (half, spacing, half, spacing))
        return F.avg_pool2d(padded, spacing, stride=spacing, divisor_override=1)[:, 0, : points[0], : points[1]]

    inside = cells(core)
    energy = cells(detail[..., rows, cols] * core) / inside.clamp_min(1e-6)
    counted = inside > 0.5 * cells(torch.ones_like(core[:1]))
    mean = (energy * counted).sum(dim=(1, 2), keepdim=True) / counted.sum(dim=(1, 2), keepdim=True).clamp_min(1)
    energy = torch.where(counted, energy, mean)
    return energy.masked_fill_(energy < DETAIL_FLOOR, 0.0), counted.flatten(1)


class Carried(NamedTuple):
    """The detail energy each point reads in either phase, per step of the traces: [S + 1, B, G] each, counted points
    only (step 0 of either: the still's)."""

    ahead: torch.Tensor
    """k steps along the flow (what the backward phase brings, L − t steps ahead at frame t)…"""
    behind: torch.Tensor
    """…and k steps against it (what the forward phase brings at frame k)."""


def carried_detail(flow: torch.Tensor, index: torch.Tensor, energy: torch.Tensor, counted: torch.Tensor,
                   steps: int, origin: tuple[int, int], spacing: int) -> Carried:
    """Trace the points, the pixels ``index`` [G] (a grid every ``spacing`` px from pixel ``origin`` (x, y)),
    ``steps`` steps along ``flow`` [B|1, 2, H, W] and against it, and read the detail ``energy`` [B|1, Gh, Gw]
    (:func:`point_detail`) where each trace is; ``counted`` [B|1, G] the points that count."""
    batch = max(energy.shape[0], counted.shape[0], flow.shape[0])
    grid = energy.unsqueeze(1).expand(batch, -1, -1, -1)

    def read(state: EulerState) -> torch.Tensor:
        positions = state.positions()
        x, y = (positions[:, 0] - origin[0]) / spacing, (positions[:, 1] - origin[1]) / spacing
        return read_bilinear(grid, x, y)[:, 0] * counted

    phases = []
    for reverse in (False, True):
        state = EulerState(flow, "bilinear", sources=index, leave="continue", reverse=reverse)
        reads = [read(state)]
        for _ in range(steps):
            state.step()
            reads.append(read(state))
        phases.append(torch.stack(reads))
    return Carried(*phases)


def shown_detail(carried: Carried, windows: list[torch.Tensor], lengths: list[int]) -> torch.Tensor:
    """The least of the still's detail (√ of its energy over the region, 1 = all of it) any frame of the cycle
    shows, per cycle and candidate: [C, K, B].

    ``windows[c]`` [B|1, 2K, G]: the starts, then the ends, of cycle c's detail transitions at the points for each of
    K candidates, ``lengths[c]`` the cycle's frames. At frame t a point shows the forward phase's detail (what its
    trace t steps against the flow reads) and the backward phase's (L − t steps along it), blended as the render
    blends them (weights a, b: energies a², b² over a² + b²). Where the point downstream has switched and the point
    upstream has not, a feature carried between them shows in neither, and the frame's detail falls."""
    still = carried.ahead[0].sum(dim=-1, keepdim=True)  # [B, 1]
    low = still.new_full((len(lengths), windows[0].shape[1] // 2, still.shape[0]), math.inf)
    for c, length in enumerate(lengths):
        starts, ends = windows[c].chunk(2, dim=1)
        span = (ends - starts).clamp_min(1e-3)
        for t in range(length + 1):
            beta = smoothstep((t - starts) / span)
            forward, backward = (1 - beta).square(), beta.square()
            shown = forward * carried.behind[t].unsqueeze(1) + backward * carried.ahead[length - t].unsqueeze(1)
            shown = (shown / (forward + backward)).sum(dim=-1)
            ratio = torch.where(still > 0, shown / still.clamp_min(1e-20), 1.0).sqrt()  # no detail: none to lose
            low[c] = torch.minimum(low[c], ratio.T)
    return low


def choose_candidates(low: torch.Tensor) -> torch.Tensor:
    """Per cycle and picture the candidate kept [C, B] from the least detail a frame shows with each
    (:func:`shown_detail`): the first (the pattern asked for) where it keeps KEEP_DETAIL, else the one that keeps
    most."""
    return torch.where(low[:, 0] >= KEEP_DETAIL, 0, low.argmax(dim=1))


def _eroded(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """``mask`` [B, 1, H, W] (0/1) eroded by a square of ±``radius`` px (separable; the picture's edge does not
    erode)."""
    size = 2 * radius + 1
    hole = 1 - mask
    hole = F.max_pool2d(hole, (1, size), stride=1, padding=(0, radius))
    return 1 - F.max_pool2d(hole, (size, 1), stride=1, padding=(radius, 0))
