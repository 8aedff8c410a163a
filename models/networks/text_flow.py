"""Network A, ``spadexattnunetsd``: text-conditioned Eulerian flow predictor (docs/networks.md#network-a-text-flow).

A SPADE U-Net with 320/640/1280 channels and nine Stable-Diffusion-style cross-attention blocks that read
the CLIP text tokens. Input [B, 4, H, W] (RGB in [-1, 1] + binary mask), H and W multiples of 64; context
[B, 77, 768]; output [B, 2, H, W] = tanh(·), a per-frame flow in units of 64 px.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..checks import InputShapeError, InputValueError, check_tensor
from .blocks import SpadeUNet, leaky_relu, upsample2
from .transformer import CONTEXT_DIM, CONTEXT_TOKENS, SpatialTransformer

# (in, out) channels of conv2…conv8 and dconv1…dconv8, in the official state-dict order.
_ENCODER = [(320, 320), (320, 640), (640, 640), (640, 640), (640, 1280), (1280, 1280), (1280, 1280)]
_DECODER = [(1280, 1280), (2560, 1280), (2560, 640), (1280, 640), (1280, 640), (1280, 320), (640, 320), (640, 2)]
_ATTENTION = [
    ("attn_input_block_1", 640),
    ("attn_input_block_2", 640),
    ("attn_input_block_3", 1280),
    ("attn_input_block_4", 1280),
    ("attn_middle_block", 1280),
    ("attn_output_block_4", 1280),
    ("attn_output_block_3", 1280),
    ("attn_output_block_2", 640),
    ("attn_output_block_1", 640),
]
# Encoder steps e2…e7: (SPADE, transformer or None, 2× average pool after the conv).
_ENCODER_STEPS = [
    ("spade_layer2_0", None, True),
    ("spade_layer4_0", None, True),
    ("spade_layer8_0", "attn_input_block_1", True),
    ("spade_layer8_1", "attn_input_block_2", False),
    ("spade_layer8_2", "attn_input_block_3", True),
    ("spade_layer8_3", "attn_input_block_4", False),
]
# Decoder steps d1…d7: (SPADE, transformer or None, bilinear ×2 before the conv).
_DECODER_STEPS = [
    ("spade_layer8_4", "attn_output_block_4", True),
    ("spade_layer8_5", "attn_output_block_3", False),
    ("spade_layer8_6", "attn_output_block_2", True),
    ("spade_layer8_7", "attn_output_block_1", False),
    ("spade_layer4_1", None, True),
    ("spade_layer2_1", None, True),
    ("spade_layer", None, True),
]


class TextFlowNet(SpadeUNet):
    """``spadexattnunetsd`` in the official inference configuration (input_nc 4, output_nc 2, tanh)."""

    INPUT_CHANNELS = 4
    SIZE_MULTIPLE = 64
    SPADE_WIDTHS = (320, 320, 320, 640, 640, 640, 640, 1280, 1280, 1280, 1280, 640, 640)

    def build(self, ops) -> None:
        """The convolutions and the cross-attention blocks, all from ``ops``."""
        self.conv1 = ops.Conv2d(self.INPUT_CHANNELS, 320, 3, padding=1)
        for index, (cin, cout) in enumerate(_ENCODER, start=2):
            self.add_module(f"conv{index}", ops.Conv2d(cin, cout, 3, padding=1))
        for name, channels in _ATTENTION:
            self.add_module(name, SpatialTransformer(channels, ops))
        for index, (cin, cout) in enumerate(_DECODER, start=1):
            self.add_module(f"dconv{index}", ops.Conv2d(cin, cout, 3, padding=1))

    def forward(self, input: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        conditions = self.conditions(input)
        context = check_context(context, input.shape[0]).to(input.dtype)
        skips = [F.avg_pool2d(self.conv1(input), 2)]
        for index, (spade, attention, pool) in enumerate(_ENCODER_STEPS, start=2):
            h = getattr(self, f"conv{index}")(leaky_relu(skips[-1]))
            h = getattr(self, spade)(F.avg_pool2d(h, 2) if pool else h, conditions)
            skips.append(getattr(self, attention)(h, context) if attention else h)
        h = self.attn_middle_block(F.avg_pool2d(self.conv8(leaky_relu(skips[-1])), 2), context)
        for index, (spade, attention, upsample) in enumerate(_DECODER_STEPS, start=1):
            h = F.relu(h)
            h = getattr(self, f"dconv{index}")(upsample2(h) if upsample else h)
            h = getattr(self, spade)(h, conditions)
            if attention:
                h = getattr(self, attention)(h, context)
            h = torch.cat((h, skips.pop()), dim=1)
        return torch.tanh(self.dconv8(upsample2(F.relu(h))))


def check_context(context: torch.Tensor, batch: int) -> torch.Tensor:
    """Validate the CLIP token context [B|1, 77, 768] and broadcast it to the batch."""
    check_tensor(context, "TextFlowNet: context")
    if context.dim() != 3 or tuple(context.shape[1:]) != (CONTEXT_TOKENS, CONTEXT_DIM):
        raise InputShapeError(
            f"TextFlowNet: context must have shape [B, {CONTEXT_TOKENS}, {CONTEXT_DIM}] (the last hidden state "
            f"of the SD-1.4 CLIP ViT-L/14 text encoder, padded to 77 tokens), got {list(context.shape)}"
        )
    if context.shape[0] not in (1, batch):
        raise InputShapeError(f"TextFlowNet: context batch ({context.shape[0]}) must be 1 or match the input ({batch})")
    if not torch.isfinite(context).all():
        raise InputValueError("TextFlowNet: the text context contains NaN/inf — the CLIP text encoder produced invalid "
                              "values (damaged or mismatched CLIP weights, or a half-precision overflow)")
    return context.expand(batch, -1, -1)
