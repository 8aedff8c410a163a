"""Euler integration of an Eulerian flow into per-frame displacements (NETWORKS.md §5.3).

The official code re-integrates from scratch for every frame (O(N²) steps per clip). Here an
:class:`EulerState` advances one step at a time, and :func:`loop_compact_displacements` serves the
symmetric loop (i forward steps of +flow, N − i backward steps of −flow) in O(N) steps with O(√N)
stored fields.

Only pixels with a nonzero flow vector are tracked: under §5.3 a pixel whose own flow is zero looks
itself up forever and never moves, so its displacement is always 0.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator

import torch

from .flow_ops import validate_flow

INTEGRATIONS = ("round", "bilinear")


def _check_integration(integration: str) -> None:
    if integration not in INTEGRATIONS:
        raise ValueError(f"integration must be one of {INTEGRATIONS}, got {integration!r}")


def _check_count(value: int, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def tracked_pixels(flow: torch.Tensor) -> torch.Tensor:
    """Flat indices (ascending, y·W + x) of the pixels whose flow is nonzero in any batch item."""
    validate_flow(flow)
    return (flow != 0).any(dim=1).any(dim=0).flatten().nonzero().squeeze(1)


def scatter_to_grid(compact: torch.Tensor, sources: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Expand a compact displacement [B, 2, M] of ``sources`` into a full [B, 2, H, W] field (0 elsewhere)."""
    height, width = size
    full = compact.new_zeros(compact.shape[0], 2, height * width)
    full[:, :, sources] = compact
    return full.view(compact.shape[0], 2, height, width)


class EulerState:
    """Positions of the tracked pixels after ``steps`` Euler steps of ``flow``; :meth:`step` adds one.

    Semantics (official, ``integration="round"``): positions start at integer pixel centres; each step
    reads the flow at ``torch.round`` of the current position (half-to-even, nearest) and adds it; a pixel
    whose new x ∉ [0, W−1] or y ∉ [0, H−1] becomes invalid for good and is reset to its start.
    ``integration="bilinear"`` reads the flow bilinearly at the exact position instead (smoother
    sub-pixel motion for the learning-free engine; same validity rule).
    """

    def __init__(self, flow: torch.Tensor, integration: str = "round") -> None:
        validate_flow(flow)
        _check_integration(integration)
        batch, _, height, width = flow.shape
        self.size = (height, width)
        self.integration = integration
        self.steps = 0
        self.sources = tracked_pixels(flow)
        self._flow = flow.reshape(batch, 2, height * width)
        start_x = (self.sources % width).to(flow.dtype)
        start_y = torch.div(self.sources, width, rounding_mode="floor").to(flow.dtype)
        self._start = torch.stack((start_x, start_y)).unsqueeze(0)
        self._pos = self._start.expand(batch, 2, -1).clone()
        self._invalid = torch.zeros(batch, self.sources.numel(), dtype=torch.bool, device=flow.device)
        self._sentinel = float(max(height, width) + 1)
        self._upper = torch.tensor([width - 1, height - 1], dtype=flow.dtype, device=flow.device).view(1, 2, 1)

    def _gather(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        index = (y * self.size[1] + x).unsqueeze(1).expand(-1, 2, -1)
        return torch.gather(self._flow, 2, index)

    def _velocity(self) -> torch.Tensor:
        if self.integration == "round":
            nearest = torch.round(self._pos).long()
            return self._gather(nearest[:, 0], nearest[:, 1])
        x, y = self._pos[:, 0], self._pos[:, 1]
        height, width = self.size
        x0, y0 = torch.floor(x), torch.floor(y)
        fx, fy = (x - x0).unsqueeze(1), (y - y0).unsqueeze(1)
        x0, y0 = x0.long(), y0.long()
        x1, y1 = (x0 + 1).clamp(max=width - 1), (y0 + 1).clamp(max=height - 1)
        top = self._gather(x0, y0) * (1 - fx) + self._gather(x1, y0) * fx
        bottom = self._gather(x0, y1) * (1 - fx) + self._gather(x1, y1) * fx
        return top * (1 - fy) + bottom * fy

    def step(self) -> None:
        """Advance every tracked pixel by one frame."""
        pos = self._pos + self._velocity()
        # Outside [0, W−1] × [0, H−1] ⇔ the smaller distance to the low and high bounds is negative.
        self._invalid |= torch.minimum(pos, self._upper - pos).amin(dim=1) < 0
        self._pos = torch.where(self._invalid.unsqueeze(1), self._start, pos)
        self.steps += 1

    def compact_displacement(self) -> torch.Tensor:
        """Displacement [B, 2, M] of ``sources``; invalid pixels get max(H, W) + 1 so splatting drops them."""
        disp = self._pos - self._start
        return disp.masked_fill(self._invalid.unsqueeze(1), self._sentinel)

    def displacement(self) -> torch.Tensor:
        """Full displacement field [B, 2, H, W] (0 for untracked pixels)."""
        return scatter_to_grid(self.compact_displacement(), self.sources, self.size)

    def copy(self) -> EulerState:
        """Independent snapshot (shares the read-only flow and start positions)."""
        clone = copy.copy(self)
        clone._pos = self._pos.clone()
        clone._invalid = self._invalid.clone()
        return clone


def euler_integrate(flow: torch.Tensor, steps: int, integration: str = "round") -> torch.Tensor:
    """Displacement [B, 2, H, W] after ``steps`` Euler steps of ``flow`` (NETWORKS.md §5.3); 0 → zeros."""
    _check_count(steps, "steps", 0)
    state = EulerState(flow, integration)
    for _ in range(steps):
        state.step()
    return state.displacement()


def _countdown(state: EulerState, total: int) -> Iterator[torch.Tensor]:
    """Yield the compact displacement after total, total−1, …, 1 steps from ``state`` (at step 0).

    Checkpoints every K = ⌈√total⌉ steps; each chunk is recomputed from its checkpoint and served in
    reverse: about 2·total steps, ⌈total/K⌉ checkpoints + K fields in memory.
    """
    chunk = math.isqrt(total - 1) + 1
    checkpoints = []
    while state.steps + chunk < total:
        checkpoints.append(state.copy())
        for _ in range(chunk):
            state.step()
    checkpoints.append(state)
    while checkpoints:
        current = checkpoints.pop()
        stop = min(total, current.steps + chunk)
        fields = []
        while current.steps < stop:
            current.step()
            fields.append(current.compact_displacement())
        yield from reversed(fields)


def loop_compact_displacements(
    flow: torch.Tensor, n_frames: int, integration: str = "round"
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield ``(i, forward, backward)`` for frames i = 0 … N−1 of a symmetric loop, in frame order.

    ``forward`` = displacement after i steps of +flow, ``backward`` = after N − i steps of −flow, both
    compact [B, 2, M] over ``tracked_pixels(flow)``. O(N) steps in total and O(√N) stored fields.
    """
    _check_count(n_frames, "n_frames", 1)
    forward = EulerState(flow, integration)
    backward = EulerState(-flow, integration)
    return _symmetric(forward, backward, n_frames)


def _symmetric(
    forward: EulerState, backward: EulerState, n_frames: int
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    for i, backward_disp in enumerate(_countdown(backward, n_frames)):
        if i > 0:
            forward.step()
        yield i, forward.compact_displacement(), backward_disp


def loop_displacements(
    flow: torch.Tensor, n_frames: int, integration: str = "round"
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Like :func:`loop_compact_displacements` but with full [B, 2, H, W] displacement fields."""
    compact = loop_compact_displacements(flow, n_frames, integration)
    sources, size = tracked_pixels(flow), tuple(flow.shape[-2:])
    return (
        (i, scatter_to_grid(forward, sources, size), scatter_to_grid(backward, sources, size))
        for i, forward, backward in compact
    )
