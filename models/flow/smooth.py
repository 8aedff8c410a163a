"""Smooth fields: the seeded smooth random field and the (normalised) Gaussian blur, one torch home for both.

The flow engine varies its flow with them (random direction and speed, river directions smoothed within their
region); the loop stage, which comes after, staggers its transitions and splits the still into bands with them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def smooth_random_field(samples: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Random ``samples`` [count, gh, gw] (a grid of gh × gw values, e.g. uniform in [−1, 1]) upsampled bicubically
    to ``shape`` = (H, W) with the grid's corner samples on the field's corner pixels: [count, H, W] float32.

    Corner-aligned, the pattern is fixed relative to the picture: the same samples give the same field at any size.
    The callers draw the samples with their own seeded generator (the flow engine numpy's PCG64, whose stream numpy
    keeps the same on every platform; the loop plan torch's CPU generator, whose ``rand`` is serial, so its numbers do
    not depend on the CPU either) and keep the draws their measured loops were made with. Bicubic overshoot leaves the
    values slightly outside the samples' range near peaks.
    """
    grid = samples.float().unsqueeze(1)
    return F.interpolate(grid, size=tuple(shape), mode="bicubic", align_corners=True)[:, 0]


def normalised_blur(values: torch.Tensor, weight: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of ``values`` [B, C, H, W] over the points where ``weight`` [B, 1, H, W] > 0 (normalised
    convolution: blur(values · weight) ÷ blur(weight)), so nothing outside the weight bleeds in; ``values`` as they
    are where no weight reaches."""
    num = gaussian_blur(values * weight, sigma)
    den = gaussian_blur(weight, sigma)
    return torch.where(den > 1e-6, num / den.clamp_min(1e-6), values)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [B, C, H, W] (σ in px, radius 3σ, reflected borders)."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    channels = image.shape[1]
    out = image
    for dim in (-1, -2):
        pad = min(radius, image.shape[dim] - 1)
        if pad == 0:
            continue
        k = kernel[radius - pad: radius + pad + 1]
        k = (k / k.sum()).view(1, 1, *((1, -1) if dim == -1 else (-1, 1)))
        padding = (pad, pad, 0, 0) if dim == -1 else (0, 0, pad, pad)
        out = F.conv2d(F.pad(out, padding, mode="reflect"), k.expand(channels, 1, *k.shape[2:]), groups=channels)
    return out
