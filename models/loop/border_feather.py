"""A narrow feather where a moving layer meets still content (docs/layers.md#the-feather).

A ``behind`` or ``slip`` layer moves at full speed up to its border. Where the border cuts through continuous
texture (open water cut by a drawn region, sky around a still block) the moving texture meets the still texture in
a hard line; where it follows a real edge (a treeline, a shore) the region's rim still holds a few pixels of the
still object's own soft edge, which would move with the layer and drag dark notches off the edge. So each of the
layer's pixels within :data:`FEATHER_PX` of a still pixel is blended towards the still, more the nearer it is. Only
the layer's own pixels change: still pixels stay bit-exact, frame 0 (never rendered) is the input and the loop
still closes (the blend of two closing sequences closes).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy import ndimage

from ..flow.ops import smoothstep
from .common import batch_item, chunk_share
from .sharp_stack import StackPlan

FEATHER_PX = 4.0
"""Width of the feather band inside the layer (px): the rendered layer's weight is smoothstep((d − ½) ÷ FEATHER_PX)
at distance d from the nearest still pixel. Measured (docs/layers.md#the-feather): 3 px takes most of the line
away, 6–8 px little more; a narrow band keeps the double exposure of moving and still texture narrow."""


class Feather(NamedTuple):
    """The pixels of one layer (in one batch item) that blend towards the still."""

    index: torch.Tensor
    """[K] positions in the layer plan's ``sources``."""
    weight: torch.Tensor
    """[K, 1] weight of the rendered layer (1 − weight: the still), in [0, 1]."""
    still: torch.Tensor
    """[K, 3] the still's values there."""


def border_feather(image: torch.Tensor, sources: torch.Tensor, moving: torch.Tensor,
                   still: torch.Tensor) -> Feather | None:
    """The feather of a layer whose moving pixels are ``sources[moving]`` (flat indices) in ``image`` [3, H, W],
    next to the ``still`` [H, W] bool pixels (moved by no layer); None where nothing is feathered."""
    if not bool(still.any()):
        return None
    distance = ndimage.distance_transform_edt(~still.cpu().numpy()).astype(np.float32)
    distance = torch.from_numpy(distance).to(image.device).flatten()[sources]
    band = moving & (distance < FEATHER_PX + 0.5)
    if not bool(band.any()):
        return None
    index = band.nonzero().squeeze(1)
    weight = smoothstep((distance[index] - 0.5) / FEATHER_PX).unsqueeze(1)
    return Feather(index, weight, image.flatten(1).t()[sources[index]].float())


def apply_feather(values: torch.Tensor, feather: Feather | None, part: slice) -> torch.Tensor:
    """``values`` [P, 3] of the layer's sources ``part`` with its feathered pixels blended towards the still (in
    place)."""
    if feather is not None:
        within, index = chunk_share(feather.index, part)
        values[index] = torch.lerp(feather.still[within], values[index], feather.weight[within])
    return values


def stack_feathers(image: torch.Tensor, plan: StackPlan) -> list[list[Feather | None]]:
    """Per layer of ``plan`` and batch item of ``image`` [B, 3, H, W] its feather; ``stick`` layers have none
    (their speed already fades to zero at the border), nor does anything where no pixel is still."""
    batch, _, height, width = image.shape
    moved = torch.zeros(batch, height * width, dtype=torch.bool, device=image.device)
    for layer in plan.layers:
        moved[:, layer.plan.sources] |= layer.moving
    still = ~moved.view(batch, height, width)
    return [[None] * batch if layer.border == "stick" else
            [border_feather(image[b], layer.plan.sources, batch_item(layer.moving, b),
                            still[b]) for b in range(batch)]
            for layer in plan.layers]
