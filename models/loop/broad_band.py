"""The broad brightness of a ``behind`` layer, cross-faded at the classic rate where one phase holds (docs/layers.md).

Near a still part a ``behind`` layer switches phase early or late: one phase reads behind the still part after a
few frames, so the other one shows the pixel for most of the cycle, read from far up- or downstream. In a sky that
brightens along the flow that shows a darker (or brighter) strip along the still part, and its outline as a
brightness step. A cross-fade at rate i/L keeps a linear gradient exactly (the forward phase's +i·v and the
backward phase's −(L − i)·v cancel). So there the broad band (a blur of σ = :data:`BROAD_SIGMA` px within the
layer) is taken from that balanced cross-fade instead of the phases' own blend; the low band and the detail above it
keep their windows. A read behind a still part takes the broad band continued beyond the layer by odd reflection
(2·b(nearest) − b(mirror)), so a gradient goes on linearly behind the still part instead of folding back. Where both
phases hold for most of the cycle the low band's wide fade already keeps the balance, and nothing changes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ..flow.ops import smoothstep
from ..flow.smooth import normalised_blur
from .common import bilinear, chunk_share, pixel_chunks
from .sharp_plan import LOW_BAND_MARGIN

BROAD_SIGMA = 16.0
"""px: the blur whose content cross-fades at the classic rate. A double exposure this blurred does not show; the
σ = 4 px low band above it keeps its staggered windows (a front of blurred cloud shapes would)."""
BROAD_STEP = 4
"""px between the broad band's grid points (its blur spans 4 of them, so bilinear reads lose nothing): 1/16 of a
frame's memory."""
WEIGHT_SIGMA = 8.0
"""px: the blur that smooths :func:`one_phase_weight` over the layer. The plan's windows change within a grid step
(4 px at 512 px), and a weight that changed as fast would draw the difference of the two broad bands as a front."""
WEIGHT_FLOOR = 1e-3
"""Pixels whose weight is below this are left as they are (a layer's interior, away from the still parts: the
change there would be under 1/10 000)."""


Positions = tuple[torch.Tensor, torch.Tensor]
"""Where the forward and the backward phase of every moving pixel are: [2, M] each."""


class Grid(NamedTuple):
    """A field on the broad band's grid, one row [C] per grid point."""

    rows: torch.Tensor
    height: int
    width: int


class Balance(NamedTuple):
    """Where a layer's broad band takes the balanced cross-fade in one cycle and batch item."""

    index: torch.Tensor
    """[K] int32 positions in the layer plan's ``sources`` (a third of a frame's memory if every pixel of the
    picture had one; next to still parts it is a quarter to a half of a layer's pixels)."""
    weight: Grid
    """The smoothed weight on the broad band's grid (1/48 of a frame): :meth:`BroadBand.shift` reads it at the
    ``index`` pixels each frame, the same values as when they were picked, rather than holding [K] weights."""

    def part(self, part: slice) -> Balance:
        """The balance of the pixels ``part`` of the layer's sources alone (``index`` counted from its start)."""
        return Balance(chunk_share(self.index, part)[1], self.weight)


class BroadBand:
    """One layer's broad band in one batch item, continued beyond the layer."""

    def __init__(self, still: torch.Tensor, region: torch.Tensor) -> None:
        """``still`` [C, H, W]; ``region`` [H, W] bool: the layer's own pixels."""
        weight = F.avg_pool2d(region[None, None].to(still.dtype), BROAD_STEP, ceil_mode=True)
        values = F.avg_pool2d(still[None] * region.to(still.dtype), BROAD_STEP, ceil_mode=True)
        broad = normalised_blur(values / weight.clamp_min(1e-6), weight, BROAD_SIGMA / BROAD_STEP)[0]
        grid = _odd_continuation(broad, (weight[0, 0] > 0.5).cpu().numpy())
        low, high = still.amin(dim=(1, 2)).view(-1, 1, 1), still.amax(dim=(1, 2)).view(-1, 1, 1)
        self.grid = _rows(torch.maximum(torch.minimum(grid, high), low))
        self.size = region.shape

    def balance(self, weight: torch.Tensor, sources: torch.Tensor, pixels: torch.Tensor) -> Balance:
        """Where and how much the pixels ``sources`` [M] (flat indices; at ``pixels`` [2, M]) take the balanced
        cross-fade in a cycle: their :func:`one_phase_weight` ``weight`` [M] smoothed over them (σ = WEIGHT_SIGMA,
        on the broad band's grid: a smooth field), kept where it is at least WEIGHT_FLOOR."""
        canvas = weight.new_zeros(self.size).flatten()
        known = torch.zeros_like(canvas)
        canvas[sources], known[sources] = weight, 1
        pooled, cover = (F.avg_pool2d(x.view(1, 1, *self.size), BROAD_STEP, ceil_mode=True) for x in (canvas, known))
        grid = _rows(normalised_blur(pooled / cover.clamp_min(1e-6), cover, WEIGHT_SIGMA / BROAD_STEP)[0])
        index = torch.cat([(_read_grid(grid, pixels[:, part])[:, 0] >= WEIGHT_FLOOR).nonzero().squeeze(1) + part.start
                           for part in pixel_chunks(pixels.shape[1])] or [pixels.new_zeros(0, dtype=torch.long)])
        return Balance(index.int(), grid)

    def shift(self, balance: Balance, pixels: torch.Tensor, traced: Positions, read: Positions, share: float,
              gamma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What to add to the low band of ``balance``'s pixels (of ``pixels`` [2, M], as in :meth:`balance`): [K]
        positions (int64) and [K, C] values, their broad band at the traces' ends ``traced`` (forward, backward
        [2, M], possibly behind still parts) cross-faded at rate ``share`` = i/L, less the broad band of what the
        phases read (``read``, at weight γ [M])."""
        index = balance.index
        weight = _read_grid(balance.weight, pixels.index_select(1, index))
        ends, reads = ([positions.index_select(1, index) for positions in pair] for pair in (traced, read))
        at_ends = [_read_grid(self.grid, positions) for positions in ends]
        # Most reads are the traces' ends themselves (inside the layer): read again only where they were moved.
        shown = []
        for end, at_end, positions in zip(ends, at_ends, reads, strict=True):
            moved = (positions != end).any(dim=0).nonzero().squeeze(1)
            value = at_end.clone()
            value[moved] = _read_grid(self.grid, positions.index_select(1, moved))
            shown.append(value)
        balanced = torch.lerp(*at_ends, share)
        balanced.sub_(torch.lerp(*shown, gamma.index_select(0, index).unsqueeze(1)))
        return index.long(), balanced.mul_(weight)  # index_add_ takes an int32 index ~7× slower


def one_phase_weight(detail: torch.Tensor, low: torch.Tensor, length: int) -> torch.Tensor:
    """How much of a pixel's broad band takes the balanced cross-fade [B, M], from the widths of its detail window
    and its low band's, ``detail``, ``low`` [B, M] (frames), in a cycle of ``length``: 1 where the low band fades no
    wider than the detail (the plan found one phase holding for most of the cycle: the early or late switch that
    makes a strip), 0 where it fades a margin wider (both phases hold: the wide fade keeps the balance)."""
    return 1 - smoothstep((low - detail) / (LOW_BAND_MARGIN * length))


def _rows(field: torch.Tensor) -> Grid:
    """A field [C, h, w] on the broad band's grid as :data:`Grid`."""
    channels, height, width = field.shape
    return Grid(field.reshape(channels, -1).t().contiguous(), height, width)


def _read_grid(grid: Grid, positions: torch.Tensor) -> torch.Tensor:
    """[M, C]: bilinear reads of a field on the broad band's grid at pixel positions [2, M]."""
    centre = (BROAD_STEP - 1) / 2
    x, y = ((positions - centre) / BROAD_STEP).unbind(0)
    return bilinear(x.clamp(0, grid.width - 1), y.clamp(0, grid.height - 1), grid.height, grid.width,
                    lambda index: grid.rows.index_select(0, index))


def _odd_continuation(broad: torch.Tensor, inside: np.ndarray) -> torch.Tensor:
    """``broad`` [C, h, w] with every point outside ``inside`` [h, w] replaced by 2·b(nearest inside point) −
    b(its mirror across it), or b(nearest) where the mirror is not inside either."""
    if inside.all() or not inside.any():
        return broad
    _, (rows, cols) = ndimage.distance_transform_edt(~inside, return_indices=True)
    height, width = inside.shape
    here_rows, here_cols = np.indices(inside.shape)
    mirror_rows, mirror_cols = 2 * rows - here_rows, 2 * cols - here_cols
    fits = (mirror_rows >= 0) & (mirror_rows < height) & (mirror_cols >= 0) & (mirror_cols < width)
    mirror_rows, mirror_cols = np.where(fits, mirror_rows, rows), np.where(fits, mirror_cols, cols)
    fits &= inside[mirror_rows, mirror_cols]

    def at(r: np.ndarray, c: np.ndarray) -> torch.Tensor:
        return broad.flatten(1)[:, torch.from_numpy((r * width + c).reshape(-1)).to(broad.device)]

    near = at(rows, cols)
    odd = torch.where(torch.from_numpy(fits.reshape(-1)).to(broad.device), 2 * near - at(mirror_rows, mirror_cols),
                      near)
    return odd.view_as(broad)
