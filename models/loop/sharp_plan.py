"""When each pixel of a sharp loop turns from the forward to the backward phase: a one-time analysis pass.

A loop of N frames is made of ``cycles`` of L ≈ N / cycles frames: one, or two where the flow distorts texture
quickly, e.g. where it diverges (:func:`choose_cycles`). Within a cycle a pixel first shows the forward phase (the
still carried i steps along the flow), then the backward phase (carried L − i steps against it, which is the still
again at the cycle's end), with a short transition in between.

The analysis follows the forward and backward traces of a coarse grid of points for L steps and measures how far
each distorts the texture: |log σ| of the singular values of the trace map's Jacobian (stretched or squashed
texture), from finite differences of neighbouring points; a trace that reads farther than a small margin beyond
the picture counts as unusable. Per point, the forward phase is usable up to ``f_last``, the backward one from
``b_first``. The transition window is placed inside [b_first, f_last], as near as it allows to a preferred time
from a smooth random field whose values are spread evenly over the cycle (so only a few patches switch at any
frame, and never all at once). Where the interval is shorter than the window, the whole interval is the window (a
slower, local cross-fade: near inflow and outflow edges); where it is empty, the window straddles the frame at which
both phases are equally distorted, and the plan warns when that is a noticeable share of the region.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import torch
import torch.nn.functional as F

from .common import bounding_box
from .euler import EulerState, tracked_pixels
from .sharp_resample import gaussian_blur, read_bilinear

ANALYSIS_GRID = 128
"""Points along the moving region's longer side (the traces are smooth; the pass's cost follows this, not H·W)."""
MAX_DISTORTION = 0.35
"""|log σ| a phase may reach before its transition is moved away from it (texture scaled by 0.70 … 1.42)."""
CYCLE_DISTORTION = 0.25
"""Median |log σ| half-way through a cycle above which the loop is cut into more, shorter cycles."""
MIN_CYCLE_FRAMES = 12
MAX_CYCLES = 2
"""More, shorter cycles measured worse: every cycle's transitions add flicker (pop) on real scenes."""
STAGGER_CELLS = 3.0
"""Cells of the stagger field across the region's longer side: the size of the patches that switch together."""
INFEASIBLE_WARNING = 0.05
NARROW_ROOM = 0.75
LOW_BAND_MARGIN = 0.25
"""Fraction of a cycle the low band's fade extends beyond the detail's window on each side: wide enough that a
smooth gradient (a sky) never shows a front, staggered like the detail so no large area fades at once."""
MIRROR_MARGIN = 0.02
"""How far beyond the picture's edge (fraction of √(H·W)) a trace may read the mirrored still. Farther out a
mirrored copy of a distinct shape (a cloud at the edge) would show; the phase counts as unusable instead."""


@dataclass(frozen=True)
class LoopPlan:
    """``bounds`` [K + 1] frame numbers of the cycles; per cycle k and moving pixel (``sources``) the local frames
    ``start[k]``, ``end[k]`` [B, M] between which the pixel's detail turns from the forward to the backward phase,
    and ``fade_start[k]``, ``fade_end[k]`` between which its low band does (the widest window both phases allow)."""

    sources: torch.Tensor
    bounds: tuple[int, ...]
    start: torch.Tensor
    end: torch.Tensor
    fade_start: torch.Tensor
    fade_end: torch.Tensor
    warnings: tuple[str, ...]


def choose_cycles(forward: torch.Tensor, backward: torch.Tensor, moving: torch.Tensor, n_frames: int) -> int:
    """Fewest cycles whose phases stay undistorted half-way: the median over the moving points of the larger
    distortion after L/2 steps is ≤ CYCLE_DISTORTION (distortions [N + 1, B, G], moving [B, G])."""
    inside = moving > 0
    cycles = 1
    while cycles < MAX_CYCLES and n_frames // (cycles + 1) >= MIN_CYCLE_FRAMES:
        half = n_frames // (2 * cycles)
        worst = torch.maximum(forward[half], backward[half])[inside]
        if worst.numel() == 0 or float(worst.median()) <= CYCLE_DISTORTION:
            break
        cycles += 1
    return cycles


def default_transition(n_frames: int) -> int:
    """Frames a pixel takes to switch phase: a tenth of the loop (at least 2). Shorter windows measured less
    flicker on real scenes than a fifth (more pixels switch at different times, each briefly)."""
    return max(2, round(n_frames / 10))


def cycle_bounds(n_frames: int, cycles: int) -> tuple[int, ...]:
    return tuple(round(k * n_frames / cycles) for k in range(cycles + 1))


def plan_loop(flow: torch.Tensor, n_frames: int, transition: int | None = None, cycles: int | None = None,
              seed: int = 0, on_step: Callable[[], None] | None = None) -> LoopPlan:
    """Transition windows of every moving pixel (module docstring). ``flow`` [B, 2, H, W]; ``transition`` in
    frames (default :func:`default_transition`); ``cycles`` per loop (default :func:`choose_cycles`).
    ``on_step()`` runs after each step of the traces and between the full-size steps (an exception it raises, e.g.
    Cancel, stops the pass)."""
    batch, _, height, width = flow.shape
    sources = tracked_pixels(flow)
    if sources.numel() == 0:  # nothing moves: one cycle, every frame is the still
        empty = flow.new_zeros(1, batch, 0)
        return LoopPlan(sources=sources, bounds=(0, n_frames), start=empty, end=empty, fade_start=empty,
                        fade_end=empty, warnings=())
    rows, cols = bounding_box((flow != 0).any(dim=1).any(dim=0), margin=0)
    stride = max(1, math.ceil(max(rows.stop - rows.start, cols.stop - cols.start) / ANALYSIS_GRID))
    ys = torch.arange(rows.start, rows.stop, stride, device=flow.device)
    xs = torch.arange(cols.start, cols.stop, stride, device=flow.device)
    shape = (len(ys), len(xs))
    grid = (ys.view(-1, 1) * width + xs.view(1, -1)).flatten()
    moving = (flow.flatten(2)[:, :, grid] != 0).any(dim=1).to(flow.dtype)  # [B, G]
    # Distortion after k steps, made non-decreasing (once texture is torn it stays torn): [k, B, G].
    steps = n_frames if cycles is None else -(-n_frames // cycles)
    forward = torch.cummax(_trace_distortion(-flow, grid, shape, stride, steps, on_step), dim=0).values
    backward = torch.cummax(_trace_distortion(flow, grid, shape, stride, steps, on_step), dim=0).values
    if cycles is None:
        cycles = choose_cycles(forward, backward, moving, n_frames)
    bounds = cycle_bounds(n_frames, cycles)
    if transition is None:
        transition = default_transition(n_frames)
    starts, ends, fade_starts, fade_ends = [], [], [], []
    infeasible = torch.zeros_like(moving, dtype=torch.bool)
    for k, (first, last) in enumerate(pairwise(bounds)):
        length = last - first
        stagger = _spread(_stagger_field(shape, batch, seed + k, flow.device).flatten(1), moving)
        windows = _windows(forward[: length + 1], backward[: length + 1], stagger, length,
                           min(transition, max(1, length - 2)))
        infeasible |= windows[-1] & (moving > 0)
        grid_shape = (batch, *shape)
        for values, out in zip(windows[:4], (starts, ends, fade_starts, fade_ends), strict=True):
            out.append(_smooth_on(values.view(grid_shape), moving.view(grid_shape)))
    # Up to every moving pixel: bilinear on the grid.
    gy = (torch.div(sources, width, rounding_mode="floor") - rows.start).to(flow.dtype) / stride
    gx = (sources % width - cols.start).to(flow.dtype) / stride

    def to_pixels(values: torch.Tensor) -> torch.Tensor:
        return read_bilinear(values.unsqueeze(1), gx.unsqueeze(0), gy.unsqueeze(0))[:, 0]

    lengths = torch.tensor([b - a for a, b in pairwise(bounds)], dtype=flow.dtype, device=flow.device).view(-1, 1, 1)

    def window(first: list[torch.Tensor], last: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        begin = torch.stack([to_pixels(s) for s in first]).clamp_min(0)
        return begin, torch.maximum(torch.minimum(torch.stack([to_pixels(e) for e in last]), lengths), begin)

    start_px, end_px = window(starts, ends)
    if on_step is not None:
        on_step()
    fade_start_px, fade_end_px = window(fade_starts, fade_ends)
    warnings = []
    share = float(infeasible.sum() / moving.sum().clamp_min(1))
    if share > INFEASIBLE_WARNING:
        warnings.append(
            f"{share:.0%} of the moving region cannot loop without visibly stretching its texture (it travels out "
            "of the region or the speed changes too fast along the way): use fewer frames or a lower speed"
        )
    return LoopPlan(sources=sources, bounds=bounds, start=start_px, end=end_px, fade_start=fade_start_px,
                    fade_end=fade_end_px, warnings=tuple(warnings))


def _windows(forward: torch.Tensor, backward: torch.Tensor, stagger: torch.Tensor, length: int, transition: int):
    """(start, end, fade_start, fade_end, infeasible) [B, G] of one cycle of ``length`` frames from distortions
    [length + 1, B, G]: the detail's transition window and the low band's (as wide as both phases allow)."""
    half = transition / 2.0
    steps = torch.arange(length + 1, dtype=forward.dtype, device=forward.device).view(-1, 1, 1)
    f_last = ((forward <= MAX_DISTORTION).to(forward.dtype) * steps).amax(dim=0)  # valid steps are a prefix
    b_first = length - ((backward <= MAX_DISTORTION).to(forward.dtype) * steps).amax(dim=0)
    preferred = half + stagger * (length - 2 * half)
    room = f_last - b_first
    centre = torch.minimum(torch.maximum(preferred, b_first + half), f_last - half)
    start = torch.where(room >= 2 * half, centre - half, b_first)
    end = torch.where(room >= 2 * half, centre + half, f_last)
    infeasible = room < 0
    # No frame where both phases hold: cross over where they are equally distorted (frame t: forward[t] vs
    # backward[length − t]).
    crossing = torch.maximum(forward, backward.flip(0)).argmin(dim=0).to(forward.dtype)
    start = torch.where(infeasible, (crossing - half).clamp(min=0), start)
    end = torch.where(infeasible, (crossing + half).clamp(max=length), end)
    # The low band fades over a much wider window around the detail's, as far as both phases hold. Where they
    # hold together for less than half the cycle (near inflow and outflow edges), such windows would line up
    # over whole bands of pixels; there the low band follows the detail's staggered window.
    margin = LOW_BAND_MARGIN * length
    narrow = infeasible | (room < NARROW_ROOM * length)
    fade_start = torch.where(narrow, start, torch.maximum(b_first, start - margin))
    fade_end = torch.where(narrow, end, torch.minimum(f_last, end + margin))
    return start, end, fade_start, fade_end, infeasible


def _trace_distortion(flow: torch.Tensor, grid: torch.Tensor, shape: tuple[int, int], stride: int,
                      steps: int, on_step: Callable[[], None] | None) -> torch.Tensor:
    """|log σ| [steps + 1, B, G] of the map "grid point → its trace after k steps along ``flow``"."""
    state = EulerState(flow, "bilinear", sources=grid, leave="continue")
    out = flow.new_zeros(steps + 1, flow.shape[0], grid.numel())
    height, width = flow.shape[-2:]
    upper = torch.tensor([width - 1, height - 1], dtype=flow.dtype, device=flow.device).view(1, 2, 1)
    margin = MIRROR_MARGIN * math.sqrt(height * width)
    for k in range(1, steps + 1):
        state.step()
        positions = state.positions()
        out[k] = _log_singular_values(positions.view(flow.shape[0], 2, *shape), stride)
        beyond = torch.maximum(-positions, positions - upper).amax(dim=1)
        out[k].masked_fill_(beyond > margin, math.inf)
        if on_step is not None:
            on_step()
    return out


def _log_singular_values(grid: torch.Tensor, stride: int) -> torch.Tensor:
    """max |log σ| [B, Gh·Gw] of the Jacobian of positions ``grid`` [B, 2, Gh, Gw] sampled every ``stride`` px."""
    dx, dy = _derivative(grid, -1, stride), _derivative(grid, -2, stride)
    a, c, b, d = dx[:, 0], dx[:, 1], dy[:, 0], dy[:, 1]
    energy = a * a + b * b + c * c + d * d
    det = (a * d - b * c).abs()
    high = torch.sqrt(((energy + torch.sqrt((energy * energy - 4 * det * det).clamp_min(0))) / 2).clamp_min(1e-12))
    low = (det / high).clamp_min(1e-6)
    return torch.maximum(torch.log(high).abs(), torch.log(low).abs()).flatten(1)


def _derivative(grid: torch.Tensor, dim: int, stride: int) -> torch.Tensor:
    """Central differences along ``dim`` (one-sided at the ends) per pixel of spacing."""
    n = grid.shape[dim]
    if n < 2:  # a single row or column of points: assume no distortion across it
        identity = torch.zeros_like(grid)
        identity[:, 0 if dim == -1 else 1] = 1.0
        return identity
    padded = torch.cat((grid.narrow(dim, 0, 1), grid, grid.narrow(dim, n - 1, 1)), dim=dim)
    diff = padded.narrow(dim, 2, n) - padded.narrow(dim, 0, n)
    spacing = torch.full((n,), 2.0 * stride, dtype=grid.dtype, device=grid.device)
    spacing[0] = spacing[-1] = float(stride)
    return diff / spacing.view(-1, 1) if dim == -2 else diff / spacing


def _stagger_field(shape: tuple[int, int], batch: int, seed: int, device: torch.device) -> torch.Tensor:
    """Smooth noise [B, Gh, Gw] with about STAGGER_CELLS cells across the longer side (seeded, CPU generator)."""
    generator = torch.Generator().manual_seed(seed)
    cells = [max(2, round(STAGGER_CELLS * n / max(shape)) + 2) for n in shape]
    noise = torch.rand(batch, 1, *cells, generator=generator)
    return F.interpolate(noise, size=shape, mode="bicubic", align_corners=True)[:, 0].to(device)


def _spread(field: torch.Tensor, moving: torch.Tensor) -> torch.Tensor:
    """Rank-normalise ``field`` [B, G] to [0, 1] over the moving points: switch times cover the cycle evenly."""
    out = field.clone()
    for b in range(field.shape[0]):
        inside = moving[b] > 0
        count = int(inside.sum())
        if count:
            out[b, inside] = field[b, inside].argsort().argsort().to(field.dtype) / max(1, count - 1)
    return out


def _smooth_on(values: torch.Tensor, weight: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Normalised Gaussian smoothing of ``values`` [B, Gh, Gw] over the points where ``weight`` > 0."""
    num = gaussian_blur((values * weight).unsqueeze(1), sigma)
    den = gaussian_blur(weight.unsqueeze(1), sigma)
    return torch.where(den > 1e-6, num / den.clamp_min(1e-6), values.unsqueeze(1))[:, 0]
