"""Network C, ``spadeunet4softmaxsplating``: the softmax-splatting video generator
(docs/networks.md#network-c-splat-video).

One frame = encode the start and end images into 64 feature channels + an importance map Z, Euler-
integrate the flow forward (to the start image) and backward (to the end image), softmax-splat both
feature maps with a temporal blend α, normalise, and decode with a partial-convolution decoder.

Two ways to call it:

* ``forward(input [B, 8, H, W], index)`` — the official per-frame contract (both images re-encoded and
  the Euler integration redone from scratch for every frame);
* the per-loop API — :meth:`SplatVideoNet.encode_pair` once, then :meth:`SplatVideoNet.render` per frame
  with displacements from :func:`models.loop.euler.loop_displacements` (O(N) Euler steps for the whole loop).
  :func:`models.networks.inference.render_loop_with_network` drives it.

Difference from the official code: the official network reshapes Z with ``view(B, 1, S, S)`` where S is
the training option ``fineSize`` (512), so it only accepts square inputs of exactly that side. Here H and
W are read from the tensor: any size whose sides are multiples of 4 works (the decoder downsamples twice
and upsamples twice); at S = fineSize the results are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..checks import InputShapeError, InputTypeError, InputValueError, check_number
from ..loop.euler import euler_integrate
from ..loop.splatting import splat_with_weights
from .blocks import InferenceNetwork, check_input
from .video_blocks import DecoderBlock, EncoderBlock

FEATURES = 64
SPLAT_EPS = 1e-8
_ENCODER = [(3, 32), (32, 32), (32, 32), (32, 64), (64, 64), (64, 64), (64, 64), (64, FEATURES + 1)]
_DECODER = [
    (64, 64, None),
    (64, 128, "down"),
    (128, 256, "down"),
    (256, 256, None),
    (256, 128, "up"),
    (128, 128, "up"),
    (128, 128, None),
    (128, 3, None),
]


@dataclass
class EncodedPair:
    """Start and end images of a loop, encoded once: features [B, 64, H, W] and softmax weights
    exp(Z − max Z) [B, 1, H, W], all float32 (splatting and normalisation stay in float32,
    docs/networks.md#numerical-pitfalls)."""

    features_start: torch.Tensor
    weight_start: torch.Tensor
    features_end: torch.Tensor
    weight_end: torch.Tensor


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gblocks = nn.ModuleList(EncoderBlock(cin, cout) for cin, cout in _ENCODER)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        for block in self.gblocks:
            image = block(image)
        return image


class Projector(nn.Module):
    """Partial-convolution decoder; returns the image before tanh."""

    def __init__(self) -> None:
        super().__init__()
        self.eblocks = nn.ModuleList(DecoderBlock(cin, cout, resample) for cin, cout, resample in _DECODER)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block in self.eblocks:
            features, mask = block(features, mask)
        return features


def parse_index(index: torch.Tensor | tuple[int, int, int] | list[int]) -> tuple[int, int, int]:
    """(start, middle, end) from a tensor [[s, m, e]] / [s, m, e] / rows all equal, or a tuple of ints."""
    if isinstance(index, torch.Tensor):
        if index.dim() not in (1, 2) or index.shape[-1] != 3 or index.numel() == 0:
            raise InputShapeError(f"index must have shape [3] or [B, 3], got {list(index.shape)}")
        rows = index.reshape(-1, 3)
        if not bool((rows == rows[:1]).all()):
            raise InputValueError("index rows must all be equal (one frame is rendered for the whole batch)")
        values = rows[0].tolist()
    elif isinstance(index, (tuple, list)) and len(index) == 3:
        values = list(index)
    else:
        raise InputTypeError(f"index must be a (start, middle, end) tuple or a tensor [[s, m, e]], got {index!r}")
    if not all(float(v) == int(v) for v in values):
        raise InputValueError(f"index entries must be integers, got {values}")
    start, middle, end = (int(v) for v in values)
    if not 0 <= start <= middle <= end:
        raise InputValueError(f"index must satisfy 0 <= start <= middle <= end, got {(start, middle, end)}")
    return start, middle, end


class SplatVideoNet(InferenceNetwork):
    """``spadeunet4softmaxsplating`` in the official configuration (ngf 64, "256W8UpDown64", spectral BN)."""

    INPUT_CHANNELS = 8
    SIZE_MULTIPLE = 4

    def __init__(self, operations=None) -> None:
        """``operations`` is accepted like the flow networks' (ComfyUI's loader passes comfy.ops) but unused:
        every layer here is a spectral-norm or batch-statistics layer of this package, which casts its weights
        to the input's dtype per call the way comfy.ops.manual_cast layers do."""
        super().__init__()
        del operations
        self.encoder = Encoder()
        self.projector = Projector()
        self.eval()

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image [B, 3, H, W] in [-1, 1] → (features [B, 64, H, W], weight exp(Z − max Z) [B, 1, H, W]).

        The max is over the whole Z tensor, batch included, as in the official code
        (docs/networks.md#numerical-pitfalls).
        """
        encoded = self.encoder(image.to(self.dtype)).float()
        z = encoded[:, FEATURES:]
        return encoded[:, :FEATURES], torch.exp(z - z.max())

    def encode_pair(self, start: torch.Tensor, end: torch.Tensor | None = None) -> EncodedPair:
        """Encode the loop's start and end images; ``end=None`` means the same image, encoded once."""
        check_input(start, 3, self.SIZE_MULTIPLE, "SplatVideoNet start image")
        features_start, weight_start = self.encode(start)
        if end is None:
            return EncodedPair(features_start, weight_start, features_start, weight_start)
        check_input(end, 3, self.SIZE_MULTIPLE, "SplatVideoNet end image")
        if end.shape != start.shape:
            raise InputShapeError(
                f"start and end images must have the same shape, got {list(start.shape)} and {list(end.shape)}"
            )
        features_end, weight_end = self.encode(end)
        return EncodedPair(features_start, weight_start, features_end, weight_end)

    def splat(
        self, encoded: EncodedPair, forward_disp: torch.Tensor, backward_disp: torch.Tensor, alpha: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Symmetric softmax splatting: (normalised features G [B, 64, H, W], weight sum [B, 1, H, W]).

        Start features travel along ``forward_disp`` with weight α, end features along ``backward_disp``
        with weight 1 − α; G = Σ F·w / max(Σ w, 1e-8), exactly 0 where nothing lands (holes).
        """
        check_number(alpha, "alpha", minimum=0.0, maximum=1.0)
        numerator = denominator = None
        for features, weight, disp, blend in (
            (encoded.features_start, encoded.weight_start, forward_disp, alpha),
            (encoded.features_end, encoded.weight_end, backward_disp, 1.0 - alpha),
        ):
            if blend == 0.0:  # contributes exact zeros
                continue
            num, den = splat_with_weights(features, disp.float(), weight * blend)
            numerator = num if numerator is None else numerator + num
            denominator = den if denominator is None else denominator + den
        return numerator / denominator.clamp(min=SPLAT_EPS), denominator

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """Splatted features [B, 64, H, W] → image [B, 3, H, W] in (-1, 1); zero pixels are holes."""
        mask = (features != 0).float()
        return torch.tanh(self.projector(features.to(self.dtype), mask))

    def render(
        self, encoded: EncodedPair, forward_disp: torch.Tensor, backward_disp: torch.Tensor, alpha: float
    ) -> torch.Tensor:
        """One frame from pre-encoded images and the frame's displacements (per-loop API)."""
        features, _ = self.splat(encoded, forward_disp, backward_disp, alpha)
        return self.decode(features)

    def forward(self, input: torch.Tensor, index) -> torch.Tensor:
        """Official per-frame call: input = [start RGB, end RGB (both [-1, 1]), flow px/frame], index (s, m, e)."""
        check_input(input, self.INPUT_CHANNELS, self.SIZE_MULTIPLE, "SplatVideoNet")
        start, middle, end = parse_index(index)
        encoded = self.encode_pair(input[:, 0:3], input[:, 3:6])
        flow = input[:, 6:8].float()
        forward_disp = euler_integrate(flow, middle - start)
        backward_disp = euler_integrate(-flow, end + 1 - middle)
        alpha = 1.0 - (middle - start) / (end - start + 1)
        return self.render(encoded, forward_disp, backward_disp, alpha)
