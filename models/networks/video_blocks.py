"""Blocks of network C: noise batch-norm, the BigGAN-style encoder block and the partial-conv decoder block.

Everything is spectrally normalised (legacy layout, folded once; see :mod:`.spectral`), as in the
official ``norm_G='sync:spectral_batch'`` configuration (docs/networks.md#network-c-splat-video).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import cast_like
from .spectral import LegacySpectralNorm, SpectralNormConv2d

NOISE_DIM = 20
BN_EPS = 1e-5
PARTIAL_EPS = 1e-8


class StoredBatchStats(nn.Module):
    """The ``stored_mean`` / ``stored_var`` / ``accumulation_counter`` buffers of a BigGAN batch-norm.

    ``accumulation_counter`` is only used for "standing statistics", which are off in the official
    configuration; it is kept for a strict key match.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))
        self.register_buffer("accumulation_counter", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, cast_like(self.stored_mean, x), cast_like(self.stored_var, x), training=False,
                            eps=BN_EPS)


class NoiseBatchNorm(nn.Module):
    """BigGAN conditional batch-norm whose condition is an all-zero noise vector (``bn_noise_misc=True``).

    gain = 1 + gain(0) = 1 and bias = bias(0) = 0, so in eval it is plain normalisation with the stored
    statistics. The two spectral-norm linear layers ``gain``/``bias`` (20 → C, no bias) are dead weights,
    held only so the released state dict loads strictly. The statistics module is called ``bn`` in the
    encoder and ``pbn`` (partial BN) in the decoder; in eval both compute the same thing and the decoder's
    mask passes through unchanged.
    """

    def __init__(self, channels: int, stats_name: str) -> None:
        super().__init__()
        self.gain = LegacySpectralNorm((channels, NOISE_DIM), bias=False)
        self.bias = LegacySpectralNorm((channels, NOISE_DIM), bias=False)
        self.add_module(stats_name, StoredBatchStats(channels))
        self._stats_name = stats_name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self._stats_name)(x)


class EncoderBlock(nn.Module):
    """``ch_a(x) + ch_b(x)``: [BN, ReLU, SN conv 3×3, BN, ReLU, SN conv 3×3] plus a 1×1 skip when C changes."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.ch_a = nn.Sequential(
            NoiseBatchNorm(in_channels, "bn"),
            nn.ReLU(inplace=True),  # in place on the fresh batch-norm output
            SpectralNormConv2d(in_channels, out_channels, 3, padding=1),
            NoiseBatchNorm(out_channels, "bn"),
            nn.ReLU(inplace=True),
            SpectralNormConv2d(out_channels, out_channels, 3, padding=1),
            nn.Identity(),
        )
        if in_channels != out_channels:
            self.ch_b = nn.Sequential(SpectralNormConv2d(in_channels, out_channels, 1))
        else:
            self.ch_b = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ch_a(x).add_(self.ch_b(x))


class PartialConv2d(SpectralNormConv2d):
    """SN partial convolution, 3×3, multi-channel mask (NVIDIA PartialConv2d semantics,
    docs/networks.md#partial-convolution-decoder).

    The mask may have 1 channel (the same for every input channel) or one per input channel. Mask
    counting and the re-weighting ratio are computed in float32 whatever the feature dtype, because the
    1e-8 guard underflows in half precision (docs/networks.md#numerical-pitfalls).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = mask.float()
        valid = mask * self.in_channels if mask.shape[1] == 1 else mask.sum(dim=1, keepdim=True)
        count = F.conv2d(valid, valid.new_ones(1, 1, 3, 3), padding=1)
        update = count.clamp(0, 1)
        ratio = (self.in_channels * 9) / (count + PARTIAL_EPS) * update
        # Once every hole is filled (after a few layers), multiplying by the all-ones masks is an exact
        # no-op; skipping it saves two full passes over the feature map.
        complete = bool(mask.all())
        out = F.conv2d(x if complete else x * mask.to(x.dtype), cast_like(self.weight, x), None, self.stride,
                       self.padding)
        out = out.mul_(ratio.to(out.dtype)).add_(cast_like(self.bias, out).view(1, -1, 1, 1))
        return (out if complete else out.mul_(update.to(out.dtype))), update


def _resample_features(h: torch.Tensor, mode: str | None) -> torch.Tensor:
    if mode == "down":
        return F.avg_pool2d(h, 3, 2, 1)
    if mode == "up":
        return F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
    return h


def _resample_mask(mask: torch.Tensor, mode: str | None) -> torch.Tensor:
    if mode == "down":
        return F.max_pool2d(mask, 3, 2, 1)
    if mode == "up":
        return F.interpolate(mask, scale_factor=2, mode="nearest")
    return mask


class DecoderBlock(nn.Module):
    """Residual block of partial convolutions with optional down/up sampling at its end."""

    def __init__(self, in_channels: int, out_channels: int, resample: str | None) -> None:
        super().__init__()
        self.bn_noise1 = NoiseBatchNorm(in_channels, "pbn")
        self.bn_noise2 = NoiseBatchNorm(out_channels, "pbn")
        self.conv_aa = PartialConv2d(in_channels, out_channels)
        self.conv_ab = PartialConv2d(out_channels, out_channels)
        # present in every block; only used when the block resamples or changes the channel count
        self.conv_b = SpectralNormConv2d(in_channels, out_channels, 1, bias=False)
        self.resample = resample
        self.learned_skip = resample is not None or in_channels != out_channels

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, mask_out = self.conv_aa(F.relu_(self.bn_noise1(x)), mask)
        h, mask_out = self.conv_ab(F.relu_(self.bn_noise2(h)), mask_out)
        skip = _resample_features(self.conv_b(x), self.resample) if self.learned_skip else x
        return _resample_features(h, self.resample).add_(skip), _resample_mask(mask_out, self.resample)
