"""Reading a still at float positions without washing its detail out (the sharp loop engine's sampler).

Bilinear reads at fractional positions are a low-pass filter whose strength changes with the fraction, so a
texture read at moving positions loses up to half its fine contrast and shimmers. Here the still is first
upsampled once to a 2× grid whose even samples are the original pixels and whose odd samples are Lanczos-3
midpoints; a read then takes the nearest 2× sample: one tap per channel, the sharpness of a cubic
interpolant, at most a quarter pixel off, and exactly the original wherever a position is a pixel centre.
Positions beyond the picture read its mirror image, so texture carried in from outside the frame continues the
texture at the edge instead of smearing the edge pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..flow.smooth import gaussian_blur, normalised_blur
from .common import bilinear


def upsample_midpoints(still: torch.Tensor) -> torch.Tensor:
    """[C, H, W] → [2H − 1, 2W − 1, C] (channels last: the reader's one row per sample): even samples are the
    pixels, odd ones Lanczos-3 midpoints. Built in place, a block of rows at a time: whole-picture passes held
    three copies of the 2× grid at once (12 frames of memory at their peak, more than a sharp loop holds after)."""
    channels, height, width = still.shape
    pixels = still.permute(1, 2, 0)
    fine = still.new_empty(2 * height - 1, 2 * width - 1, channels)
    rows = max(1, _BLOCK_ELEMENTS // fine[0].numel())
    for top in range(0, height, rows):
        count = min(rows, height - top)
        fine[2 * top:2 * (top + count):2, ::2] = pixels[top:top + count]
        fine[2 * top:2 * (top + count):2, 1::2] = _midpoints(pixels[top:top + count], 1, 0, width - 1)
    even = fine[::2]
    for top in range(0, height - 1, rows):
        count = min(rows, height - 1 - top)
        fine[2 * top + 1:2 * (top + count):2] = _midpoints(even, 0, top, count)
    return fine


_BLOCK_ELEMENTS = 1 << 20
"""Elements of the 2× grid built per block (4 MB of float32): the build's temporaries are a few of these."""


def _midpoints(x: torch.Tensor, dim: int, first: int, count: int) -> torch.Tensor:
    """The midpoints of x[j], x[j + 1] along ``dim`` for j = first … first + count − 1: Lanczos-3 over x[j − 2] …
    x[j + 3], reflected at the ends (x[−i] = x[i], x[n − 1 + i] = x[n − 1 − i]); plain averages where the side is
    too short to reflect the kernel's reach."""
    n, reach = x.shape[dim], len(_MIDPOINT_TAPS) // 2
    if n <= reach:
        j = torch.arange(first, first + count, device=x.device)
        return (x.index_select(dim, j) + x.index_select(dim, j + 1)) / 2
    # The samples x[first − reach + 1] … x[first + count + reach − 1], reflected: tap k reads `span` from k on.
    i = torch.arange(first - reach + 1, first + count + reach, device=x.device).abs()
    span = x.index_select(dim, torch.where(i > n - 1, 2 * (n - 1) - i, i))
    mid = x.new_zeros(*x.shape[:dim], count, *x.shape[dim + 1:])
    for k, weight in enumerate(_MIDPOINT_TAPS):
        mid.add_(span.narrow(dim, k, count), alpha=weight)
    return mid


def _lanczos_midpoint_taps(lobes: int = 3) -> tuple[float, ...]:
    """Weights of the 2·lobes samples around a midpoint, normalised to sum to 1."""
    offsets = [k + 0.5 for k in range(-lobes, lobes)]
    raw = [math.sin(math.pi * d) / (math.pi * d) * math.sin(math.pi * d / lobes) / (math.pi * d / lobes)
           for d in offsets]
    total = sum(raw)
    return tuple(w / total for w in raw)


_MIDPOINT_TAPS = _lanczos_midpoint_taps()


def _outside(x: torch.Tensor, size: int) -> bool:
    return x.numel() > 0 and (float(x.min()) < 0 or float(x.max()) > size - 1)


def mirror(x: torch.Tensor, size: int) -> torch.Tensor:
    """Coordinates reflected into [0, size − 1]: the picture continued by its mirror image beyond each edge (those
    inside kept exactly, so a read does not depend on what else is read with it)."""
    if size < 2:
        return torch.zeros_like(x)
    period = 2 * (size - 1)
    folded = (size - 1) - ((x % period) - (size - 1)).abs()
    return torch.where((x >= 0) & (x <= size - 1), x, folded)  # the fold rounds a position inside by up to an ulp


class SharpReader:
    """Reads one still [C, H, W] at float positions: :meth:`sharp` from the 2× grid, :meth:`low` bilinearly from a
    Gaussian-blurred copy (the part a transition cross-fades)."""

    def __init__(self, still: torch.Tensor, low_sigma: float, on_step: Callable[[], None] | None = None,
                 regions: list[torch.Tensor] = ()) -> None:
        """``regions``: [H, W] bool masks (motion layers that pass behind the rest) whose low band is blurred within
        the region only, so no colour of what the layer passes behind travels with it. ``on_step()`` runs between
        the full-size steps (an exception it raises, e.g. Cancel, stops them)."""
        step = on_step or (lambda: None)
        channels, height, width = still.shape
        self.size = (height, width)
        fine = upsample_midpoints(still)
        self.fine_size = fine.shape[:2]
        self.fine = fine.view(-1, channels)  # [P, C]: one row per 2× sample
        step()
        # Cubic midpoints overshoot at edges: results are clipped to the still's own range.
        self.lowest, self.highest = still.amin(dim=(1, 2)), still.amax(dim=(1, 2))
        self.blurred = gaussian_blur(still.unsqueeze(0), low_sigma)[0].reshape(channels, -1).t().contiguous()
        for region in regions:  # a channel at a time: a whole-picture blur's temporaries are several frames
            inside, weight = region.reshape(-1), region.to(still.dtype)[None, None]
            for channel in range(channels):
                own = normalised_blur(still[None, channel:channel + 1], weight, low_sigma)
                self.blurred[inside, channel] = own.reshape(-1)[inside]
        step()

    def inside(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Positions ``x``, ``y`` [M] mirrored into the picture (as every read does)."""
        height, width = self.size
        return mirror(x, width) if _outside(x, width) else x, mirror(y, height) if _outside(y, height) else y

    def index(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Row of :attr:`fine` [M] nearest to positions ``x``, ``y`` [M] (pixels)."""
        fine_height, fine_width = self.fine_size
        column, row = 2 * x, 2 * y
        column = mirror(column, fine_width) if _outside(column, fine_width) else column
        row = mirror(row, fine_height) if _outside(row, fine_height) else row
        return row.round_().long().mul_(fine_width).add_(column.round_().long())

    def sharp(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """[M, C] at positions ``x``, ``y`` [M] (pixels)."""
        return self.fine.index_select(0, self.index(x, y))

    def low(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """[M, C] bilinear reads of the blurred still at ``x``, ``y`` [M]."""
        height, width = self.size
        return bilinear(*self.inside(x, y), height, width, lambda index: self.blurred.index_select(0, index))


def read_bilinear(grid: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear read of ``grid`` [B, C, h, w] at positions ``x``, ``y`` [B|1, M] (clamped to the grid): [B, C, M]."""
    batch, channels, height, width = grid.shape
    flat = grid.reshape(batch, channels, height * width)
    return bilinear(x.clamp(0, width - 1), y.clamp(0, height - 1), height, width,
                    lambda index: torch.gather(flat, 2, index.unsqueeze(1).expand(batch, channels, -1)), dim=1)
