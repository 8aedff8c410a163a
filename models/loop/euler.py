"""Euler integration of an Eulerian flow into per-frame displacements (docs/networks.md#euler-integration).

The official code re-integrates from scratch for every frame (O(N²) steps per clip). Here an
:class:`EulerState` advances one step at a time, and :func:`loop_compact_displacements` serves the
symmetric loop (i forward steps of +flow, N − i backward steps of −flow) in O(N) steps with O(√N)
stored fields.

Only pixels with a nonzero flow vector are tracked: under the official rule a pixel whose own flow is zero looks
itself up forever and never moves, so its displacement is always 0.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator

import torch

from ..checks import InputValueError, check_flow, check_int
from .common import bilinear

INTEGRATIONS = ("round", "bilinear")
LEAVE_MODES = ("invalidate", "continue")


def _check_integration(integration: str) -> None:
    if integration not in INTEGRATIONS:
        raise InputValueError(f"integration must be one of {INTEGRATIONS}, got {integration!r}")


def tracked_pixels(flow: torch.Tensor) -> torch.Tensor:
    """Flat indices (ascending, y·W + x) of the pixels whose flow is nonzero in any batch item."""
    check_flow(flow)
    return (flow != 0).any(dim=1).any(dim=0).flatten().nonzero().squeeze(1)


def scatter_to_grid(compact: torch.Tensor, sources: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Expand a compact displacement [B, 2, M] of ``sources`` into a full [B, 2, H, W] field (0 elsewhere)."""
    height, width = size
    full = compact.new_zeros(compact.shape[0], 2, height * width)
    full[:, :, sources] = compact
    return full.view(compact.shape[0], 2, height, width)


class _Scratch:
    """Temporaries of an Euler step, allocated once and shared by states that step one at a time (a loop's forward
    and backward traces): at 512² a set is over 2 frames of memory. Only what the state's rules need is made."""

    def __init__(self, pos: torch.Tensor, leave: str, lookup: bool) -> None:
        batch, _, count = pos.shape
        self.work = torch.empty_like(pos)
        self.velocity = torch.empty_like(pos)
        self.nearest = torch.empty(pos.shape, dtype=torch.int32, device=pos.device)
        self.index = torch.empty(batch, count, dtype=torch.long, device=pos.device)
        self.looked_up = torch.empty(batch, count, dtype=torch.int32, device=pos.device) if lookup else None
        invalidate = leave == "invalidate"
        self.lowest = torch.empty(batch, count, dtype=pos.dtype, device=pos.device) if invalidate else None
        self.outside = torch.empty(batch, count, dtype=torch.bool, device=pos.device) if invalidate else None


class EulerState:
    """Positions of the tracked pixels after ``steps`` Euler steps of ``flow``; :meth:`step` adds one.

    ``sources`` (flat pixel indices, default :func:`tracked_pixels`) picks the pixels to track (a coarse grid
    for an analysis pass, say). Semantics (official, ``integration="round"``): positions start at integer pixel
    centres; each step reads the flow at ``torch.round`` of the current position (half-to-even, nearest) and
    adds it; a pixel whose new x ∉ [0, W−1] or y ∉ [0, H−1] becomes invalid for good and is reset to its start.
    ``integration="bilinear"`` reads the flow bilinearly at the exact position instead (smoother
    sub-pixel motion for the learning-free engine; same validity rule). With ``leave="continue"`` a pixel that
    leaves the picture stays valid and keeps moving with the flow of the nearest border pixel (the sharp loop
    engine reads a mirrored still out there) instead of becoming invalid.

    ``reverse`` steps against the flow (bit for bit the steps of ``-flow``, without a negated copy of it: a copy is
    two thirds of a frame held for the whole loop); ``lookup`` [B|1, H·W] int32 makes a pixel take the flow of the
    pixel ``lookup`` names (a ``behind`` motion layer's flow continued beyond it, without storing that flow).
    ``scratch_of``: a state with the same sources and rules that this one never steps at the same time as, whose
    step temporaries it shares.
    """

    def __init__(self, flow: torch.Tensor, integration: str = "round", sources: torch.Tensor | None = None,
                 leave: str = "invalidate", *, reverse: bool = False, lookup: torch.Tensor | None = None,
                 scratch_of: EulerState | None = None) -> None:
        check_flow(flow)
        _check_integration(integration)
        batch, _, height, width = flow.shape
        self.size = (height, width)
        self.integration = integration
        self.steps = 0
        self.sources = tracked_pixels(flow) if sources is None else sources
        if leave not in LEAVE_MODES:
            raise InputValueError(f"leave must be one of {LEAVE_MODES}, got {leave!r}")
        self.leave = leave
        self.reverse = reverse
        self._flow = flow.reshape(batch, 2, height * width)
        self._lookup = None if lookup is None else lookup.expand(batch, height * width)
        start_x = (self.sources % width).to(flow.dtype)
        start_y = torch.div(self.sources, width, rounding_mode="floor").to(flow.dtype)
        self._start = torch.stack((start_x, start_y)).unsqueeze(0)
        self._pos = self._start.expand(batch, 2, -1).clone()
        self._invalid = torch.zeros(batch, self.sources.numel(), dtype=torch.bool, device=flow.device)
        self._sentinel = float(max(height, width) + 1)
        self._upper = torch.tensor([width - 1, height - 1], dtype=flow.dtype, device=flow.device).view(1, 2, 1)
        self._scratch = _Scratch(self._pos, leave, lookup is not None) if scratch_of is None else scratch_of._scratch

    def _gather(self, index: torch.Tensor) -> torch.Tensor:
        """The flow [B, 2, M] at flat pixel indices [B, M]."""
        if self._lookup is not None:
            index = torch.gather(self._lookup, 1, index).long()
        return torch.gather(self._flow, 2, index.unsqueeze(1).expand(-1, 2, -1))

    def _velocity(self) -> torch.Tensor:
        scratch = self._scratch
        if self.integration == "round":
            # Nearest lookup without temporaries: the loop's hot path (allocations cost page faults per frame).
            torch.round(self._pos, out=scratch.work)
            if self.leave == "continue":  # outside the picture: the nearest border pixel's flow
                scratch.work.clamp_(min=0)
                torch.minimum(scratch.work, self._upper, out=scratch.work)
            scratch.nearest.copy_(scratch.work)
            torch.mul(scratch.nearest[:, 1], self.size[1], out=scratch.index)
            scratch.index.add_(scratch.nearest[:, 0])
            if self._lookup is not None:
                scratch.index.copy_(torch.gather(self._lookup, 1, scratch.index, out=scratch.looked_up))
            return torch.gather(self._flow, 2, scratch.index.unsqueeze(1).expand(-1, 2, -1), out=scratch.velocity)
        height, width = self.size
        x, y = self._pos[:, 0].clamp(0, width - 1), self._pos[:, 1].clamp(0, height - 1)
        return bilinear(x, y, height, width, self._gather, dim=1)

    def step(self) -> None:
        """Advance every tracked pixel by one frame (in place)."""
        pos, scratch = self._pos, self._scratch
        (pos.sub_ if self.reverse else pos.add_)(self._velocity())  # a − v is a + (−v) exactly
        self.steps += 1
        if self.leave == "continue":
            return
        # Outside [0, W−1] × [0, H−1] ⇔ the smaller distance to the low and high bounds is negative.
        torch.sub(self._upper, pos, out=scratch.work)
        torch.minimum(pos, scratch.work, out=scratch.work)
        torch.amin(scratch.work, dim=1, out=scratch.lowest)
        torch.lt(scratch.lowest, 0, out=scratch.outside)
        self._invalid.logical_or_(scratch.outside)
        torch.where(self._invalid.unsqueeze(1), self._start, pos, out=pos)

    def positions(self) -> torch.Tensor:
        """Current positions [B, 2, M] (x, y) of ``sources``; a view, valid until the next step."""
        return self._pos

    def compact_displacement(self, out: torch.Tensor | None = None) -> torch.Tensor:
        """Displacement [B, 2, M] of ``sources`` (into ``out`` if given); invalid pixels get max(H, W) + 1 so
        splatting drops them."""
        out = torch.sub(self._pos, self._start, out=out) if out is not None else self._pos - self._start
        return out.masked_fill_(self._invalid.unsqueeze(1), self._sentinel)

    def displacement(self) -> torch.Tensor:
        """Full displacement field [B, 2, H, W] (0 for untracked pixels)."""
        return scatter_to_grid(self.compact_displacement(), self.sources, self.size)

    def copy(self) -> EulerState:
        """Independent snapshot (shares the read-only flow, the start positions and the step scratch: states are
        stepped one at a time)."""
        clone = copy.copy(self)
        clone._pos = self._pos.clone()
        clone._invalid = self._invalid.clone()
        return clone


def euler_integrate(flow: torch.Tensor, steps: int, integration: str = "round") -> torch.Tensor:
    """Displacement [B, 2, H, W] after ``steps`` Euler steps of ``flow`` (docs/networks.md#euler-integration); 0 →
    zeros."""
    check_int(steps, "steps", 0)
    state = EulerState(flow, integration)
    for _ in range(steps):
        state.step()
    return state.displacement()


def _countdown(state: EulerState, total: int, on_step: Callable[[], None] | None = None) -> Iterator[torch.Tensor]:
    """Yield the compact displacement after total, total−1, …, 1 steps from ``state`` (at step 0).

    Checkpoints every K = ⌈√total⌉ steps; each chunk is recomputed from its checkpoint and served in
    reverse: about 2·total steps, ⌈total/K⌉ checkpoints + K fields in memory. The K field buffers are reused
    by every chunk, so a yielded field is valid until the next chunk starts. ``on_step()`` runs after each step
    of the first pass, which comes before the first field.
    """
    chunk = math.isqrt(total - 1) + 1
    checkpoints = []
    while state.steps + chunk < total:
        checkpoints.append(state.copy())
        for _ in range(chunk):
            state.step()
            if on_step is not None:
                on_step()
    checkpoints.append(state)
    fields: list[torch.Tensor] = []
    while checkpoints:
        current = checkpoints.pop()
        count = min(total, current.steps + chunk) - current.steps
        for slot in range(count):
            current.step()
            if slot < len(fields):
                current.compact_displacement(out=fields[slot])
            else:
                fields.append(current.compact_displacement())
        yield from reversed(fields[:count])


def loop_compact_displacements(
    flow: torch.Tensor, n_frames: int, integration: str = "round", leave: str = "invalidate",
    on_step: Callable[[], None] | None = None, sources: torch.Tensor | None = None, *, reverse: bool = False,
    lookup: torch.Tensor | None = None,
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield ``(i, forward, backward)`` for frames i = 0 … N−1 of a symmetric loop, in frame order.

    ``forward`` = displacement after i steps of +flow, ``backward`` = after N − i steps of −flow, both compact
    [B, 2, M] over ``sources`` (default ``tracked_pixels(flow)``). O(N) steps in total and O(√N) stored fields.
    The fields are reused buffers (the loop allocates nothing per frame): use or copy them before the next item.
    ``on_step()`` runs after each of the about N steps made before the first item (an exception it raises, e.g.
    Cancel, stops them). ``reverse`` and ``lookup`` as in :class:`EulerState` (``reverse``: the loop of ``-flow``).
    """
    check_int(n_frames, "n_frames", 1)
    forward = EulerState(flow, integration, sources, leave=leave, reverse=reverse, lookup=lookup)
    backward = EulerState(flow, integration, forward.sources, leave=leave, reverse=not reverse, lookup=lookup,
                          scratch_of=forward)
    return _symmetric(forward, backward, n_frames, on_step)


def _symmetric(
    forward: EulerState, backward: EulerState, n_frames: int, on_step: Callable[[], None] | None
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    forward_disp = None
    for i, backward_disp in enumerate(_countdown(backward, n_frames, on_step)):
        if i > 0:
            forward.step()
        forward_disp = forward.compact_displacement(out=forward_disp)
        yield i, forward_disp, backward_disp


def loop_displacements(
    flow: torch.Tensor, n_frames: int, integration: str = "round", on_step: Callable[[], None] | None = None
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Like :func:`loop_compact_displacements` but with full [B, 2, H, W] displacement fields."""
    compact = loop_compact_displacements(flow, n_frames, integration, on_step=on_step)
    sources, size = tracked_pixels(flow), tuple(flow.shape[-2:])
    return (
        (i, scatter_to_grid(forward, sources, size), scatter_to_grid(backward, sources, size))
        for i, forward, backward in compact
    )
