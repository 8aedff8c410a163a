"""Building blocks shared by the flow networks A and B: SPADE, the mask-aware resize, the eval-only base, the
SPADE U-Net base both are built on, and the ``operations`` namespace the networks build their standard layers
from."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import InputShapeError, InputTypeError, check_tensor

MASK_CHANNEL = 3  # channel 3 of the network inputs is the binary mask (RGB first)

SPADE_LAYERS = (
    "spade_layer", "spade_layer2_0", "spade_layer2_1", "spade_layer4_0", "spade_layer4_1", "spade_layer8_0",
    "spade_layer8_1", "spade_layer8_2", "spade_layer8_3", "spade_layer8_4", "spade_layer8_5", "spade_layer8_6",
    "spade_layer8_7",
)
"""The SPADE layers of networks A and B, in the official state-dict order (their widths differ)."""


class TorchOps:
    """The default ``operations``: plain ``torch.nn`` layers (``models/`` never imports ComfyUI).

    The networks take any namespace with ``Conv2d``, ``Linear``, ``GroupNorm`` and ``LayerNorm`` classes that
    have torch.nn's constructor signatures, i.e. ComfyUI's ``comfy.ops.disable_weight_init`` (no weight init,
    the weights are loaded anyway) or ``comfy.ops.manual_cast`` (weights kept in a storage dtype, cast per call
    to the input's dtype); ``nodes/loaders.py`` passes those.
    """

    Conv2d = nn.Conv2d
    Linear = nn.Linear
    GroupNorm = nn.GroupNorm
    LayerNorm = nn.LayerNorm


def cast_like(tensor: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """``tensor`` in ``x``'s dtype and device (the per-call cast ``comfy.ops.manual_cast`` layers do)."""
    if tensor is None or (tensor.dtype == x.dtype and tensor.device == x.device):
        return tensor
    return tensor.to(device=x.device, dtype=x.dtype)


def leaky_relu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


def split_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``x`` to ``size``: channel 3 with legacy ``nearest``, all other channels bilinearly.

    The official code resizes the SPADE condition this way (RGB and hint bilinear, mask nearest), and
    network B's decoder applies the same rule to its *feature maps* (a leftover of the input layout that
    changes the numbers, docs/networks.md#network-b-hint-flow). Bilinear is align_corners=False without antialias.
    """
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    smooth = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    mask = F.interpolate(x[:, MASK_CHANNEL : MASK_CHANNEL + 1], size=size, mode="nearest")
    return torch.cat((smooth[:, :MASK_CHANNEL], mask, smooth[:, MASK_CHANNEL + 1 :]), dim=1)


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """Bilinear ×2 (align_corners=False), the ``up2`` of docs/networks.md#conventions."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class ConditionPyramid:
    """The raw network input resized (with :func:`split_resize`) to each size a SPADE layer needs.

    Several SPADE layers share a resolution; each size is resized once per forward.
    """

    def __init__(self, condition: torch.Tensor) -> None:
        self._condition = condition
        self._cache: dict[tuple[int, int], torch.Tensor] = {}

    def at(self, size: torch.Size | tuple[int, int]) -> torch.Tensor:
        key = (int(size[0]), int(size[1]))
        if key not in self._cache:
            self._cache[key] = split_resize(self._condition, key)
        return self._cache[key]


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: InstanceNorm(x)·(1 + γ(seg)) + β(seg) (docs/networks.md#spade)."""

    HIDDEN = 128

    def __init__(self, channels: int, label_channels: int, operations=TorchOps) -> None:
        super().__init__()
        ops = operations
        self.mlp_shared = nn.Sequential(ops.Conv2d(label_channels, self.HIDDEN, 3, padding=1), nn.ReLU())
        self.mlp_gamma = ops.Conv2d(self.HIDDEN, channels, 3, padding=1)
        self.mlp_beta = ops.Conv2d(self.HIDDEN, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, conditions: ConditionPyramid) -> torch.Tensor:
        normalized = F.instance_norm(x, eps=1e-5)
        hidden = self.mlp_shared(conditions.at(x.shape[-2:]))
        return normalized * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)


class InferenceNetwork(nn.Module):
    """Base of the three generators: always in eval mode.

    In train mode the official layers would run a spectral-norm power iteration and batch statistics that
    overwrite the loaded ``weight_u``/``weight_v``/``stored_*`` tensors (docs/networks.md#numerical-pitfalls); this
    reimplementation has no training behaviour, so asking for it is an error rather than a silent no-op.

    ``compute_dtype`` (None = the weights' dtype) is the dtype the inputs are cast to: ComfyUI's manual-cast
    loading keeps the weights in a storage dtype and computes in another (``nodes/loaders.py``).
    """

    compute_dtype: torch.dtype | None = None

    def train(self, mode: bool = True) -> InferenceNetwork:
        if mode:
            raise RuntimeError(
                f"{type(self).__name__} is an inference-only reimplementation; use .eval() (training mode "
                "is not supported)"
            )
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype inputs are computed in: ``compute_dtype`` if set, else the weights' dtype."""
        return self.compute_dtype or next(self.parameters()).dtype


class SpadeUNet(InferenceNetwork, metaclass=ABCMeta):
    """Base of the flow networks A and B: U-Nets whose levels are normalised by the 13 :data:`SPADE_LAYERS`, each
    conditioned on the whole network input resized to its level (:class:`ConditionPyramid`).

    A subclass sets ``INPUT_CHANNELS``, ``SIZE_MULTIPLE`` (of H and W) and ``SPADE_WIDTHS`` (the channels of each
    SPADE layer, in SPADE_LAYERS order) and registers its other layers in :meth:`build`; the SPADE layers follow
    them, as in the official state dicts.
    """

    INPUT_CHANNELS: int
    SIZE_MULTIPLE: int
    SPADE_WIDTHS: tuple[int, ...]

    def __init__(self, operations=None) -> None:
        """``operations``: where the standard layers (Conv2d, Linear, GroupNorm, LayerNorm) come from (default
        torch.nn, see TorchOps)."""
        super().__init__()
        ops = operations or TorchOps
        self.build(ops)
        for name, channels in zip(SPADE_LAYERS, self.SPADE_WIDTHS, strict=True):
            self.add_module(name, SPADE(channels, self.INPUT_CHANNELS, ops))
        self.eval()

    @abstractmethod
    def build(self, ops) -> None:
        """Register every layer but the SPADE ones, in the official state-dict order."""

    def conditions(self, input: torch.Tensor) -> ConditionPyramid:
        """Check ``input`` and return the SPADE conditions drawn from it: the first step of each forward."""
        check_input(input, self.INPUT_CHANNELS, self.SIZE_MULTIPLE, type(self).__name__)
        return ConditionPyramid(input)


def check_input(x: torch.Tensor, channels: int, multiple: int, network: str) -> None:
    """Clear errors for a network input of the wrong rank, channel count or size."""
    check_tensor(x, f"{network}: input")
    if x.dim() != 4 or x.shape[1] != channels:
        raise InputShapeError(f"{network}: input must have shape [B, {channels}, H, W], got {list(x.shape)}")
    height, width = x.shape[-2:]
    if height % multiple or width % multiple or height == 0 or width == 0:
        raise InputShapeError(
            f"{network}: H and W must be positive multiples of {multiple}, got {height}×{width}; "
            "resize or pad the input (models.networks.inference does this for you)"
        )
    if not x.is_floating_point():
        raise InputTypeError(f"{network}: input must be a floating-point tensor, got {x.dtype}")
