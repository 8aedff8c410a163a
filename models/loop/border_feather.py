"""A narrow feather where a moving layer meets still texture (docs/layers.md#the-feather).

A ``behind`` or ``slip`` layer moves at full speed up to its border, so where the border runs through continuous
texture (open water cut by a drawn region, sky around a still block) the moving texture meets the still texture in
a hard line. Where the border follows a real image edge (a shoreline, a skyline) that line is the edge itself and
must stay crisp. So each of the layer's pixels within :data:`FEATHER_PX` of a still pixel is blended towards the
still, more the nearer it is, by how little image edge the border has there (:func:`edge_ratio`). Only the layer's
own pixels change: still pixels stay bit-exact, frame 0 (never rendered) is the input and the loop still closes
(the blend of two closing sequences closes).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy import ndimage

from ..flow.ops import smoothstep
from .sharp_resample import gaussian_blur, normalised_blur
from .sharp_stack import StackPlan

FEATHER_PX = 4.0
"""Width of the feather band inside the layer (px): weight smoothstep((d − ½) ÷ FEATHER_PX) at distance d from the
nearest still pixel. Measured (docs/layers.md#the-feather): 2 px still shows the line, 8 px shows a soft strip of
double exposure."""
EDGE_SIGMA = 2.0
"""px: the scale at which the two sides' colours and the texture around the border are compared."""
EDGE_SOFT, EDGE_CRISP = 0.8, 2.0
"""Edge ratios (:func:`edge_ratio`) at or below EDGE_SOFT get the full feather, at or above EDGE_CRISP none: open
water and sky cut by a drawn border measure 0.1–0.4, shorelines and skylines 1.5 and more."""
TEXTURE_FLOOR = 0.01
"""Colour units: the least texture a ratio divides by, so flat colour on both sides does not divide by ~0."""


class Feather(NamedTuple):
    """The pixels of one layer (in one batch item) that blend towards the still."""

    index: torch.Tensor
    """[K] positions in the layer plan's ``sources``."""
    weight: torch.Tensor
    """[K, 1] weight of the rendered layer (1 − weight: the still), in [0, 1)."""
    still: torch.Tensor
    """[K, 3] the still's values there."""


def edge_ratio(image: torch.Tensor, layer: torch.Tensor, still: torch.Tensor) -> torch.Tensor:
    """[H, W]: how much of an image edge separates ``layer`` from ``still`` ([H, W] bool) in ``image`` [3, H, W]:
    the distance between the mean colours of the two sides near each point ÷ the texture's local RMS there. Texture
    that continues across the border measures well under 1 (the two sides differ by sampling noise), a shore or a
    skyline well over 1."""
    picture = image.unsqueeze(0).float()
    inner = normalised_blur(picture, layer.float()[None, None], EDGE_SIGMA)
    outer = normalised_blur(picture, still.float()[None, None], EDGE_SIGMA)
    step = (inner - outer).norm(dim=1)[0]
    detail = (picture - gaussian_blur(picture, EDGE_SIGMA)).square()
    texture = gaussian_blur(detail, EDGE_SIGMA).sum(dim=1)[0].sqrt()
    return step / texture.clamp_min(TEXTURE_FLOOR)


def border_feather(image: torch.Tensor, sources: torch.Tensor, moving: torch.Tensor,
                   still: torch.Tensor) -> Feather | None:
    """The feather of a layer whose moving pixels are ``sources[moving]`` (flat indices) in ``image`` [3, H, W],
    next to the ``still`` [H, W] bool pixels (moved by no layer); None where nothing is feathered."""
    height, width = still.shape
    if not bool(still.any()):
        return None
    layer = torch.zeros(height * width, dtype=torch.bool, device=still.device)
    layer[sources[moving]] = True
    layer = layer.view(height, width)
    distance, (rows, cols) = ndimage.distance_transform_edt(~still.cpu().numpy(), return_indices=True)
    distance = torch.from_numpy(distance.astype(np.float32)).to(image.device).flatten()[sources]
    band = moving & (distance < FEATHER_PX + 0.5)
    if not bool(band.any()):
        return None
    nearest = torch.from_numpy((rows * width + cols).reshape(-1)).to(image.device)[sources[band]]
    ratio = edge_ratio(image, layer, still).flatten()[nearest]
    soft = 1 - smoothstep((ratio - EDGE_SOFT) / (EDGE_CRISP - EDGE_SOFT))
    weight = 1 - soft * (1 - smoothstep((distance[band] - 0.5) / FEATHER_PX))
    kept = weight < 1
    index = band.nonzero().squeeze(1)[kept]
    if index.numel() == 0:
        return None
    return Feather(index, weight[kept].unsqueeze(1), image.flatten(1).t()[sources[index]].float())


def apply_feather(values: torch.Tensor, feather: Feather | None) -> torch.Tensor:
    """``values`` [M, 3] of a layer's sources with its feathered pixels blended towards the still (in place)."""
    if feather is not None:
        values[feather.index] = torch.lerp(feather.still, values[feather.index], feather.weight)
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
            [border_feather(image[b], layer.plan.sources, layer.moving[b if layer.moving.shape[0] > 1 else 0],
                            still[b]) for b in range(batch)]
            for layer in plan.layers]
