"""Motion layers in the sharp loop: one plan per layer of a :class:`models.flow.layers.FlowStack` (docs/layers.md).

Each layer renders the pixels it owns (the upper layer owns overlaps) with its own flow, its own cycles and its own
transition windows; pixels no layer owns are never touched, so they stay the input bit-exactly. A layer with k
cycles returns to the still every ~N/k frames, so every layer closes at the loop's end.

A ``behind`` layer passes behind whatever is not itself. Its traces continue across its border with the flow of
the nearest pixel it owns (as traces beyond the picture continue with the nearest edge pixel's flow), and a read
that lands outside the layer is taken from the layer's own texture: mirrored back across the border to the
pixel as far inside (or, where that is not the layer's either, the nearest pixel of the layer). This generalises
"beyond the picture, read the mirrored still" to any still part, so texture slides behind a still block instead of
piling up against it, and what comes out from behind is the layer's own texture, never the block's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from ..checks import InputValueError, check_int
from ..flow.layers import FlowLayer, FlowStack
from .common import batch_item
from .sharp_plan import LoopPlan, default_transition, flow_fingerprint, plan_loop

LAYER_SEED_STEP = 7919
"""Stagger seeds of layer j are seed + j·7919 (a prime): neighbouring layers never switch in the same pattern."""


@dataclass(frozen=True)
class LayerPlan:
    """One layer ready to render: ``flow`` [B|1, 2, H, W] the layer's own flow (the stack's tensor, not a copy),
    ``moving`` [B, M] which of ``plan.sources`` move in each item, ``nearest`` [B|1, H·W] int32 (only ``behind``):
    the nearest pixel the layer owns (itself where the layer owns it). A ``behind`` layer's traces take the flow of
    ``nearest`` at each step (its flow continued beyond the layer) instead of a stored extended flow: the layer
    holds a third of a frame for it, not a whole frame."""

    label: str
    border: str
    flow: torch.Tensor
    plan: LoopPlan
    moving: torch.Tensor
    nearest: torch.Tensor | None
    fingerprint: tuple[float, ...]
    """:func:`flow_fingerprint` of the layer's flow as it came (a plan fits no other flow)."""


@dataclass(frozen=True)
class StackPlan:
    """The plans of a stack's non-empty layers, bottom first; ``notes`` say what was done (skipped layers,
    cycles that did not divide the frames), ``warnings`` where a layer cannot loop cleanly."""

    layers: tuple[LayerPlan, ...]
    n_frames: int
    notes: tuple[str, ...]
    warnings: tuple[str, ...]


def plan_stack(stack: FlowStack, n_frames: int, *, transition: int | None = None, seed: int = 0,
               on_step: Callable[[], None] | None = None, detail: torch.Tensor | None = None) -> StackPlan:
    """Plan every layer of ``stack`` for a loop of ``n_frames`` (``on_step`` and ``detail`` as in
    :func:`plan_loop`)."""
    check_int(n_frames, "n_frames", 1)
    owner = stack.owner()
    layers, notes, warnings = [], [], []
    for index, layer in enumerate(stack.layers):
        owned = (owner == index)[:, 0]
        flow = layer.flow.float()
        moving = owned & (flow != 0).any(dim=1)
        if not bool(moving.any()):
            notes.append(f"{layer.label}: no moving pixel of its own (empty mask, no motion, or covered by the "
                         "layers above it): skipped")
            continue
        cycles, note = layer_cycles(layer, n_frames)
        if note:
            notes.append(note)
        outside, nearest = (None, None) if layer.border != "behind" else _beyond(owned)
        window = transition or default_transition(n_frames, behind=nearest is not None)
        plan = plan_loop(flow if nearest is None else _extend(flow, nearest), n_frames, window, cycles,
                         seed + index * LAYER_SEED_STEP, on_step, moving=moving, outside=outside, detail=detail)
        prefix = "" if len(stack.layers) == 1 else f"{layer.label}: "
        warnings.extend(prefix + w for w in plan.warnings)
        layers.append(LayerPlan(layer.label, layer.border, flow, plan, moving.flatten(1)[:, plan.sources],
                                nearest, flow_fingerprint(layer.flow.float())))
    return StackPlan(tuple(layers), n_frames, tuple(notes), tuple(warnings))


def layer_cycles(layer: FlowLayer, n_frames: int) -> tuple[int | None, str]:
    """The cycles a layer asks for (None = auto: :func:`models.loop.sharp_plan.choose_cycles`) fitted to
    ``n_frames``, and a note when they had to change or do not divide the frames."""
    cycles = layer.cycles
    if cycles is None:
        return None, ""
    fitting = max(1, min(cycles, n_frames // 2))  # each cycle needs ≥ 2 frames: the still and one step away
    if fitting != cycles:
        return fitting, (f"{layer.label}: {cycles} cycles do not fit {n_frames} frames (each needs at least 2): "
                         f"{fitting} cycles instead")
    if n_frames % cycles:
        low, high = n_frames // cycles, -(-n_frames // cycles)
        return cycles, (f"{layer.label}: {n_frames} frames are not divisible by {cycles} cycles: its cycles are "
                        f"{low}–{high} frames long, each returning to the still")
    return cycles, ""


def single_layer_plan(flow: torch.Tensor, plan: LoopPlan) -> StackPlan:
    """A single flow's plan as a one-layer stack plan: its moving pixels are where the flow is nonzero."""
    moving = (flow != 0).any(dim=1).flatten(1)
    layer = LayerPlan("flow", "stick", flow, plan, moving[:, plan.sources], None, plan.fingerprint)
    return StackPlan((layer,), plan.bounds[-1], (), plan.warnings)


def _beyond(owned: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per item of ``owned`` [B, H, W] bool: the distance to the layer [B, H, W] (0 on it) and the flat index of its
    nearest pixel [B, H·W] int32 (itself on it; a third of a frame's memory)."""
    distances, nearest = [], []
    for item in owned.cpu().numpy():
        distance, (rows, cols) = ndimage.distance_transform_edt(~item, return_indices=True)
        distances.append(distance.astype(np.float32))
        nearest.append((rows * item.shape[1] + cols).reshape(-1).astype(np.int32))
    device = owned.device
    return torch.from_numpy(np.stack(distances)).to(device), torch.from_numpy(np.stack(nearest)).to(device)


def _extend(flow: torch.Tensor, nearest: torch.Tensor) -> torch.Tensor:
    """``flow`` [B|1, 2, H, W] continued beyond the layer with the flow of its nearest pixel (per item of
    ``nearest`` [B', H·W])."""
    batch = max(flow.shape[0], nearest.shape[0])
    flat = flow.flatten(2).expand(batch, -1, -1)
    index = nearest.long().expand(batch, -1).unsqueeze(1).expand(-1, 2, -1)
    return torch.gather(flat, 2, index).view(batch, 2, *flow.shape[-2:])


def remap_into_layer(x: torch.Tensor, y: torch.Tensor, layer: LayerPlan, item: int,
                     size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions ``x``, ``y`` [M] (px, inside the picture) moved onto the layer's own pixels: a position outside it
    is mirrored back across its border (by twice its offset to the nearest pixel of the layer), or, where the
    mirror lands outside the layer too, moved onto that nearest pixel (keeping its fraction). Only the positions
    outside the layer are worked on (most are inside)."""
    height, width = size
    nearest = batch_item(layer.nearest, item)
    here = y.round().clamp_(0, height - 1).long().mul_(width).add_(x.round().clamp_(0, width - 1).long())
    target = nearest.index_select(0, here).long()
    away = (target != here).nonzero().squeeze(1)
    if away.numel() == 0:
        return x, y
    here, target = here.index_select(0, away), target.index_select(0, away)
    dx = (target % width - here % width).to(x.dtype)
    dy = (torch.div(target, width, rounding_mode="floor") - torch.div(here, width, rounding_mode="floor")).to(x.dtype)
    near_x, near_y = x.index_select(0, away) + dx, y.index_select(0, away) + dy
    mirrored_x, mirrored_y = near_x + dx, near_y + dy
    column, row = mirrored_x.round().long(), mirrored_y.round().long()
    fits = (column >= 0) & (column < width) & (row >= 0) & (row < height)
    landing = row.clamp(0, height - 1) * width + column.clamp(0, width - 1)
    fits &= nearest.index_select(0, landing).long() == landing
    x, y = x.clone(), y.clone()
    x[away] = torch.where(fits, mirrored_x, near_x)
    y[away] = torch.where(fits, mirrored_y, near_y)
    return x, y


def refuse_cycles_with_stack(cycles: int | None) -> None:
    """A stack carries each layer's cycles: a loop-wide ``cycles`` is refused for it."""
    if cycles is not None:
        raise InputValueError("cycles is set per layer for a motion-layer stack (Text Flow's `cycles`); leave the "
                              "loop's cycles unset")


def owned_region(layer: LayerPlan, item: int, size: tuple[int, int]) -> torch.Tensor:
    """[H, W] bool: the pixels a ``behind`` layer owns in batch item ``item`` (where its nearest pixel is itself)."""
    nearest = batch_item(layer.nearest, item)
    return (nearest.long() == torch.arange(nearest.numel(), device=nearest.device)).view(size)
