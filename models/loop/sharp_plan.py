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
both phases are equally distorted, and the plan warns when that is a noticeable share of the region. Given the still,
the plan replaces a random field whose windows would hide its detail in some frame (:mod:`.stagger_choice`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

import torch

from ..flow.smooth import normalised_blur, smooth_random_field
from .common import bounding_box
from .euler import EulerState
from .sharp_resample import read_bilinear
from .stagger_choice import (
    KEEP_DETAIL,
    PREDICTION_POINTS,
    STAGGER_CANDIDATES,
    candidate_seed,
    carried_detail,
    choose_candidates,
    point_detail,
    shown_detail,
)

ANALYSIS_GRID = 128
"""Points along the moving region's longer side (the traces are smooth; the pass's cost follows this, not H·W)."""
MAX_DISTORTION = 0.35
"""|log σ| a phase may reach before its transition is moved away from it (texture scaled by 0.70 … 1.42)."""
CYCLE_DISTORTION = 0.25
"""Median |log σ| half-way through a cycle above which the loop is cut into more, shorter cycles."""
MIN_CYCLE_FRAMES = 12
"""Shortest cycle ``auto`` makes: a cycle needs room for a transition window (a tenth of the loop, ≥ 2 frames) on
either side of its middle, and a cycle under 12 frames (0.4 s at 30 fps) reads as a twitch, not a motion."""
MAX_CYCLES = 2
"""Most cycles ``auto`` makes. More, shorter cycles measured worse: every cycle's transitions add flicker (pop)."""
STAGGER_CELLS = 3.0
"""Cells of the stagger field across the region's longer side: the size of the patches that switch together."""
STAGGER_EXTRA_CELLS = 1
"""Cells of the stagger field added to its share of STAGGER_CELLS along each side: with it a side of one cell (a thin
region's short side) varies as a bump across it instead of a linear ramp between its two corner samples."""
INFEASIBLE_WARNING = 0.05
"""Share of the moving region that takes the infeasible-crossing fallback above which the plan warns: a few
points at a flow's singular spots (a source, an abrupt speed change) are invisible, 5 % of the region is a patch."""
NARROW_ROOM = 0.75
"""Where both phases hold for less than this share of the cycle, the low band follows the detail's window: its
wide window (LOW_BAND_MARGIN on each side) would be cut to the same interval for a whole band of neighbouring
points (near inflow and outflow edges) and fade them together."""
LOW_BAND_MARGIN = 0.25
"""Fraction of a cycle the low band's fade extends beyond the detail's window on each side: wide enough that a
smooth gradient (a sky) never shows a front, staggered like the detail so no large area fades at once."""
MIRROR_MARGIN = 0.02
"""How far beyond the picture's edge (fraction of √(H·W)) a trace may read the mirrored still. Farther out a
mirrored copy of a distinct shape (a cloud at the edge) would show; the phase counts as unusable instead."""
BEHIND_MARGIN = 0.02
"""How far beyond its own region (fraction of √(H·W)) a ``behind`` layer's trace may read its mirrored texture."""


@dataclass(frozen=True)
class LoopPlan:
    """``bounds`` [K + 1] frame numbers of the cycles; per cycle k and moving pixel (``sources``) the local frames
    ``start[k]``, ``end[k]`` [B, M] between which the pixel's detail turns from the forward to the backward phase,
    and ``fade_start[k]``, ``fade_end[k]`` between which its low band does (the widest window both phases allow).
    ``fingerprint``: :func:`flow_fingerprint` of the flow it was made for (a plan fits no other flow)."""

    sources: torch.Tensor
    bounds: tuple[int, ...]
    start: torch.Tensor
    end: torch.Tensor
    fade_start: torch.Tensor
    fade_end: torch.Tensor
    warnings: tuple[str, ...]
    fingerprint: tuple[float, ...] = ()


class Windows(NamedTuple):
    """One cycle's transition windows per grid point [B, G], in local frames."""

    start: torch.Tensor
    """The detail starts turning from the forward to the backward phase…"""
    end: torch.Tensor
    """…and is the backward phase from here on."""
    fade_start: torch.Tensor
    """The low band's (wider) cross-fade starts…"""
    fade_end: torch.Tensor
    """…and ends."""
    infeasible: torch.Tensor
    """bool: no frame where both phases hold; the window straddles their equal-distortion crossing."""


class _Grid(NamedTuple):
    """The analysis points: every ``stride``-th pixel of the moving region's bounding box."""

    rows: slice
    cols: slice
    stride: int
    shape: tuple[int, int]
    index: torch.Tensor
    """[G] flat pixel indices."""


class _Distortion(NamedTuple):
    """Distortion after k steps [steps + 1, B, G] of both phases, made non-decreasing (once texture is torn it stays
    torn), and where the grid points move [B, G]."""

    forward: torch.Tensor
    backward: torch.Tensor
    moving: torch.Tensor


def flow_fingerprint(flow: torch.Tensor) -> tuple[float, ...]:
    """A cheap summary of a flow (its shape and three sums, one pass each) that tells two flows of one size apart."""
    weights = torch.arange(flow.shape[-1], dtype=flow.dtype, device=flow.device)
    return (*map(float, flow.shape), float(flow.sum()), float(flow.abs().sum()), float((flow * weights).sum()))


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


def default_transition(n_frames: int, behind: bool = False) -> int:
    """Frames a pixel takes to switch phase: a tenth of the loop (at least 2). Shorter windows measured less
    flicker on real scenes than a fifth (more pixels switch at different times, each briefly). A layer that passes
    behind still parts takes a fifth: near the parts it passes behind one phase holds only for a short stretch at
    an end of the cycle, so short windows crowd there and switch together (docs/layers.md#measured: clouds into a
    still block, contrast 0.88 → 0.90 and pop 1.55 → 1.20 in the band before it)."""
    return max(2, round(n_frames / (5 if behind else 10)))


def cycle_bounds(n_frames: int, cycles: int) -> tuple[int, ...]:
    return tuple(round(k * n_frames / cycles) for k in range(cycles + 1))


def plan_loop(flow: torch.Tensor, n_frames: int, transition: int | None = None, cycles: int | None = None,
              seed: int = 0, on_step: Callable[[], None] | None = None, *, moving: torch.Tensor | None = None,
              outside: torch.Tensor | None = None, detail: torch.Tensor | None = None) -> LoopPlan:
    """Transition windows of every moving pixel (module docstring). ``flow`` [B, 2, H, W]; ``transition`` in
    frames (default :func:`default_transition`); ``cycles`` per loop (default :func:`choose_cycles`).
    ``moving`` [B, H, W] bool: the pixels to plan (default: where the flow is nonzero); ``outside`` [B|1, H, W]: how
    far each pixel is outside the region a trace may read (default: only the picture's edge bounds it); ``detail``
    [B|1, 1, H, W]: the still's detail energy (:func:`.stagger_choice.still_detail`), which the chosen stagger
    pattern must not hide (without it: the ``seed``'s pattern as it is; one flow for several pictures gets windows
    per picture where their choices differ).
    ``on_step()`` runs after each step of the traces and between the full-size steps (an exception it raises, e.g.
    Cancel, stops the pass)."""
    batch = flow.shape[0]
    if moving is None:
        moving = (flow != 0).any(dim=1)
    sources = moving.any(dim=0).flatten().nonzero().squeeze(1)
    if sources.numel() == 0:  # nothing moves: one cycle, every frame is the still
        empty = flow.new_zeros(1, batch, 0)
        return LoopPlan(sources=sources, bounds=(0, n_frames), start=empty, end=empty, fade_start=empty,
                        fade_end=empty, warnings=(), fingerprint=flow_fingerprint(flow))
    grid = _analysis_grid(moving, flow.shape[-1])
    steps = n_frames if cycles is None else -(-n_frames // cycles)
    distortion = _measure(flow, grid, moving, steps, outside, on_step)
    if cycles is None:
        cycles = choose_cycles(distortion.forward, distortion.backward, distortion.moving, n_frames)
    bounds = cycle_bounds(n_frames, cycles)
    lengths = [last - first for first, last in pairwise(bounds)]
    transition = transition or default_transition(n_frames)
    windows = [_cycle_windows(distortion, grid, length, transition, seed + k) for k, length in enumerate(lengths)]
    if detail is not None:
        windows = _keep_detail(windows, flow, moving, detail, distortion, grid, lengths, transition, seed)
    start, end = _to_pixels(windows, "start", "end", grid, sources, bounds, flow.shape[-1])
    if on_step is not None:
        on_step()
    fade_start, fade_end = _to_pixels(windows, "fade_start", "fade_end", grid, sources, bounds, flow.shape[-1])
    infeasible = torch.stack([w.infeasible for w in windows]).any(dim=0) & (distortion.moving > 0)
    return LoopPlan(sources=sources, bounds=bounds, start=start, end=end, fade_start=fade_start, fade_end=fade_end,
                    warnings=_warnings(infeasible, distortion.moving), fingerprint=flow_fingerprint(flow))


def _analysis_grid(moving: torch.Tensor, width: int) -> _Grid:
    """At most ANALYSIS_GRID points along the longer side of the moving pixels' bounding box."""
    rows, cols = bounding_box(moving.any(dim=0), margin=0)
    stride = max(1, math.ceil(max(rows.stop - rows.start, cols.stop - cols.start) / ANALYSIS_GRID))
    ys = torch.arange(rows.start, rows.stop, stride, device=moving.device)
    xs = torch.arange(cols.start, cols.stop, stride, device=moving.device)
    return _Grid(rows, cols, stride, (len(ys), len(xs)), (ys.view(-1, 1) * width + xs.view(1, -1)).flatten())


def _measure(flow: torch.Tensor, grid: _Grid, moving: torch.Tensor, steps: int, outside: torch.Tensor | None,
             on_step: Callable[[], None] | None) -> _Distortion:
    """Trace the grid ``steps`` frames along both phases and measure their distortion."""
    forward = _trace_distortion(-flow, grid, steps, outside, on_step)
    backward = _trace_distortion(flow, grid, steps, outside, on_step)
    return _Distortion(torch.cummax(forward, dim=0).values, torch.cummax(backward, dim=0).values,
                       moving.flatten(1)[:, grid.index].to(flow.dtype))


def _cycle_windows(distortion: _Distortion, grid: _Grid, length: int, transition: int, seed: int) -> Windows:
    """The windows of one cycle of ``length`` frames on the grid, smoothed over the moving points."""
    moving = distortion.moving
    batch = moving.shape[0]
    stagger = _spread(_stagger_field(grid.shape, batch, seed, moving.device).flatten(1), moving)
    raw = _windows(distortion.forward[: length + 1], distortion.backward[: length + 1], stagger, length,
                   min(transition, max(1, length - 2)))
    shape = (batch, *grid.shape)
    smooth = [_smooth_on(values.view(shape), moving.view(shape)) for values in raw[:4]]
    return Windows(*smooth, raw.infeasible)


def _keep_detail(windows: list[Windows], flow: torch.Tensor, moving: torch.Tensor, detail: torch.Tensor,
                 distortion: _Distortion, grid: _Grid, lengths: list[int], transition: int,
                 seed: int) -> list[Windows]:
    """``windows`` (one per cycle), or where they would hide the still's detail in some frame, the windows of
    another stagger pattern that hides least (:mod:`.stagger_choice`), per cycle and picture."""
    step = max(1, math.ceil(max(grid.shape) / PREDICTION_POINTS))
    energy, counted = point_detail(detail, moving, grid.rows, grid.cols, grid.stride * step)
    carried = carried_detail(flow, grid.index.view(grid.shape)[::step, ::step].flatten(), energy, counted,
                             max(lengths), (grid.cols.start, grid.rows.start), grid.stride * step)

    def at_points(candidates: list[Windows]) -> torch.Tensor:
        fields = [w.start for w in candidates] + [w.end for w in candidates]
        return torch.stack(fields, dim=1).view(-1, len(fields), *grid.shape)[..., ::step, ::step].flatten(2)

    if bool((shown_detail(carried, [at_points([w]) for w in windows], lengths)[:, 0] >= KEEP_DETAIL).all()):
        return windows
    candidates = [[w] + [_cycle_windows(distortion, grid, length, transition, candidate_seed(seed + k, j))
                         for j in range(1, STAGGER_CANDIDATES)]
                  for k, (w, length) in enumerate(zip(windows, lengths, strict=True))]
    choice = choose_candidates(shown_detail(carried, [at_points(c) for c in candidates], lengths))
    return [Windows(*(_pick([getattr(w, field) for w in cycle], kept) for field in Windows._fields[:4]),
                    cycle[0].infeasible)  # where both phases hold does not depend on the pattern
            for cycle, kept in zip(candidates, choice, strict=True)]


def _pick(candidates: list[torch.Tensor], kept: torch.Tensor) -> torch.Tensor:
    """Per picture b the values of candidate ``kept[b]``: [K] × [B|1, ...] → [B, ...] (B = ``kept``'s pictures: one
    flow for several pictures gets windows per picture)."""
    stacked = torch.stack(candidates)
    stacked = stacked.expand(stacked.shape[0], len(kept), *stacked.shape[2:])
    return stacked[kept, torch.arange(len(kept), device=stacked.device)]


def _to_pixels(windows: list[Windows], first: str, last: str, grid: _Grid, sources: torch.Tensor,
               bounds: tuple[int, ...], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The windows' ``first``/``last`` fields from the grid up to every moving pixel (bilinear): [K, B, M] each,
    clamped to the cycle and ordered."""
    dtype = windows[0].start.dtype
    gy = (torch.div(sources, width, rounding_mode="floor") - grid.rows.start).to(dtype) / grid.stride
    gx = (sources % width - grid.cols.start).to(dtype) / grid.stride

    def up(values: torch.Tensor) -> torch.Tensor:
        return read_bilinear(values.unsqueeze(1), gx.unsqueeze(0), gy.unsqueeze(0))[:, 0]

    lengths = torch.tensor([b - a for a, b in pairwise(bounds)], dtype=dtype, device=sources.device).view(-1, 1, 1)
    begin = torch.stack([up(getattr(w, first)) for w in windows]).clamp_min(0)
    return begin, torch.maximum(torch.minimum(torch.stack([up(getattr(w, last)) for w in windows]), lengths), begin)


def _warnings(infeasible: torch.Tensor, moving: torch.Tensor) -> tuple[str, ...]:
    share = float(infeasible.sum() / moving.sum().clamp_min(1))
    if share <= INFEASIBLE_WARNING:
        return ()
    return (f"{share:.0%} of the moving region cannot loop without visibly stretching its texture (it travels out "
            "of the region or the speed changes too fast along the way): use fewer frames or a lower speed",)


def _windows(forward: torch.Tensor, backward: torch.Tensor, stagger: torch.Tensor, length: int,
             transition: int) -> Windows:
    """The windows [B, G] of one cycle of ``length`` frames from distortions [length + 1, B, G]: the detail's
    transition window and the low band's (as wide as both phases allow)."""
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
    # hold together for less than NARROW_ROOM of the cycle (near inflow and outflow edges), such windows would
    # line up over whole bands of pixels; there the low band follows the detail's staggered window.
    margin = LOW_BAND_MARGIN * length
    narrow = infeasible | (room < NARROW_ROOM * length)
    fade_start = torch.where(narrow, start, torch.maximum(b_first, start - margin))
    fade_end = torch.where(narrow, end, torch.minimum(f_last, end + margin))
    return Windows(start, end, fade_start, fade_end, infeasible)


def _trace_distortion(flow: torch.Tensor, grid: _Grid, steps: int, outside: torch.Tensor | None,
                      on_step: Callable[[], None] | None) -> torch.Tensor:
    """|log σ| [steps + 1, B, G] of the map "grid point → its trace after k steps along ``flow``"; inf once the trace
    reads farther than MIRROR_MARGIN beyond the picture or, with ``outside`` [B|1, H, W], beyond the
    region.

    The traces look the flow up bilinearly, while rendering uses the official rounded lookup: σ comes from finite
    differences of neighbouring traces ``stride`` px apart, and rounded lookups make those differ by whole-pixel
    jumps (a slow flow's trace stands still for several steps, then jumps), which quantises σ into noise. Both
    rules follow the same smooth flow, so where they end up differs by about a pixel over a cycle."""
    state = EulerState(flow, "bilinear", sources=grid.index, leave="continue")
    out = flow.new_zeros(steps + 1, flow.shape[0], grid.index.numel())
    height, width = flow.shape[-2:]
    upper = torch.tensor([width - 1, height - 1], dtype=flow.dtype, device=flow.device).view(1, 2, 1)
    margin = MIRROR_MARGIN * math.sqrt(height * width)
    for k in range(1, steps + 1):
        state.step()
        positions = state.positions()
        out[k] = _log_singular_values(positions.view(flow.shape[0], 2, *grid.shape), grid.stride)
        beyond = torch.maximum(-positions, positions - upper).amax(dim=1)
        if outside is not None:
            pixel = torch.minimum(positions.round().clamp_min(0), upper).long()
            index = pixel[:, 1] * width + pixel[:, 0]
            behind = torch.gather(outside.flatten(1).expand(len(index), -1), 1, index)
            out[k].masked_fill_(behind > BEHIND_MARGIN * math.sqrt(height * width), math.inf)
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
    """Smooth noise [B, Gh, Gw] with about STAGGER_CELLS cells across the longer side (plus STAGGER_EXTRA_CELLS);
    its range does not matter, :func:`_spread` keeps only its order."""
    samples = [max(1, round(STAGGER_CELLS * n / max(shape)) + STAGGER_EXTRA_CELLS) + 1 for n in shape]
    generator = torch.Generator().manual_seed(seed)
    return smooth_random_field(torch.rand(batch, *samples, generator=generator), shape).to(device)


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
    return normalised_blur(values.unsqueeze(1), weight.unsqueeze(1), sigma)[:, 0]
