"""Network B, ``spadeunet``: flow predictor steered by a direction hint (docs/networks.md#network-b-hint-flow).

A spectrally-normalised SPADE U-Net (base width 32, eight stride-2 convolutions). Input [B, 6, H, W] =
RGB in [-1, 1], binary mask, 2-channel hint flow in units of 64 px; H and W multiples of 256. Output
[B, 2, H, W] = tanh(·), a per-frame flow in units of 64 px.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .blocks import SpadeUNet, leaky_relu, split_resize
from .spectral import SpectralNormConv2d

_ENCODER = [(6, 32), (32, 64), (64, 128), (128, 256), (256, 256), (256, 256), (256, 256), (256, 256)]
_DECODER = [(256, 256), (512, 256), (512, 256), (512, 256), (512, 128), (256, 64), (128, 32), (64, 2)]
_ENCODER_SPADE = [
    "spade_layer2_0",
    "spade_layer4_0",
    "spade_layer8_0",
    "spade_layer8_1",
    "spade_layer8_2",
    "spade_layer8_3",
]
_DECODER_SPADE = [
    "spade_layer8_4",
    "spade_layer8_5",
    "spade_layer8_6",
    "spade_layer8_7",
    "spade_layer4_1",
    "spade_layer2_1",
    "spade_layer",
]


def _up(x: torch.Tensor) -> torch.Tensor:
    """×2 with the channel-split rule (channel 3 nearest, others bilinear), applied to feature maps."""
    return split_resize(x, (x.shape[-2] * 2, x.shape[-1] * 2))


class HintFlowNet(SpadeUNet):
    """``spadeunet`` in the official directional configuration (input_nc 6, output_nc 2, spectral norm, tanh)."""

    INPUT_CHANNELS = 6
    SIZE_MULTIPLE = 256
    SPADE_WIDTHS = (32, 64, 64, 128, 128, 256, 256, 256, 256, 256, 256, 256, 256)

    def build(self, ops) -> None:
        """The spectral-norm convolutions: this package's own layers, which cast their folded weights to the input's
        dtype (``ops`` only builds SPADE's convolutions)."""
        for index, (cin, cout) in enumerate(_ENCODER, start=1):
            self.add_module(f"conv{index}", SpectralNormConv2d(cin, cout, 4, stride=2, padding=1))
        for index, (cin, cout) in enumerate(_DECODER, start=1):
            self.add_module(f"dconv{index}", SpectralNormConv2d(cin, cout, 3, stride=1, padding=1))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        conditions = self.conditions(input)
        skips = [self.conv1(input)]
        for index, spade in enumerate(_ENCODER_SPADE, start=2):
            h = getattr(self, f"conv{index}")(leaky_relu(skips[-1]))
            skips.append(getattr(self, spade)(h, conditions))
        h = _up(F.relu(self.conv8(leaky_relu(skips[-1]))))
        for index, spade in enumerate(_DECODER_SPADE, start=1):
            h = getattr(self, spade)(getattr(self, f"dconv{index}")(h), conditions)
            h = F.relu(torch.cat((_up(h), _up(skips.pop())), dim=1))
        return torch.tanh(self.dconv8(h))
