"""The learning-free pixel engines by the names Animate's ``engine`` input shows."""

from __future__ import annotations

import torch

from ..flow.layers import FlowStack, prepare_stack
from ..flow.ops import prepare_flow

SHARP_LOOP = "sharp loop"
"""Gathering, placed staggered transitions, contrast-preserving mixing (models.loop.sharp_loop): the default."""
CLASSIC_SPLAT = "classic splat"
"""The official symmetric softmax splatting on pixels (models.loop.pixel_animator)."""
ENGINES = (SHARP_LOOP, CLASSIC_SPLAT)
LEGACY_ENGINE = CLASSIC_SPLAT
"""What a workflow saved before the engine input existed renders with, so it renders as it did."""


def renders_layers(stack: FlowStack, engine: str, video_network: bool = False) -> bool:
    """Whether the renderer takes the stack's layers one by one (the sharp loop) rather than one flow."""
    return not video_network and engine == SHARP_LOOP and not stack.is_single_flow()


def engine_motion(stack: FlowStack, size: tuple[int, int], batch: int, mask: torch.Tensor | None, speed: float,
                  max_px_per_frame: float, engine: str, video_network: bool = False
                  ) -> tuple[FlowStack | torch.Tensor, str | None]:
    """The motion a renderer takes, fitted to ``batch`` images of ``size`` (``models.flow.ops.prepare_flow``): the
    sharp loop renders the layer stack itself (each layer its own plan and border); the classic splat and a video
    network know one flow, so they get the stack's combined flow, with a note saying so when there are layers.
    Returns (a prepared FlowStack or a flow [B, 2, H, W], the note or None)."""
    if renders_layers(stack, engine, video_network):
        return prepare_stack(stack, size, batch, mask, speed, max_px_per_frame), None
    note = None if stack.is_single_flow() else (
        f"the {'video model' if video_network else engine} renders the combined flow of the {len(stack.layers)} "
        "motion layer(s) (each pixel moves with the layer that owns it; borders and cycles are the sharp loop's)")
    flow = prepare_flow(stack.combined(), size, batch, mask, speed, max_px_per_frame, video_network=video_network)
    return flow, note
