"""Legacy spectral norm (``torch.nn.utils.spectral_norm``) with the effective weight folded once.

The released checkpoints of networks B and C store every normalised layer as ``weight_orig`` (parameter)
plus the power-iteration vectors ``weight_u`` / ``weight_v`` (buffers); there is no ``weight`` key.
In eval the official layer uses ``W = weight_orig / σ`` with ``σ = uᵀ · (weight_orig.reshape(out, -1) @ v)``
and never updates u, v (docs/networks.md#legacy-spectral-norm). So ``W`` is computed once, when the state dict is
loaded, and
kept in a non-persistent buffer: ``state_dict()`` keeps the legacy layout and ``forward`` costs one plain
convolution. Every read of :attr:`LegacySpectralNorm.weight` first checks that ``weight_orig``, u and v
are still the tensors (and tensor versions) the fold was computed from, and folds again otherwise, so an
in-place edit or a device/dtype move can never leave a stale weight in use (the legacy-API trap,
docs/networks.md#checkpoint-loading).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import InputValueError
from .blocks import cast_like


def _tensor_signature(tensor: torch.Tensor) -> tuple:
    """Identity of a tensor's current contents: storage, version counter, device and dtype.

    Inference tensors (created under ``torch.inference_mode``) carry no version counter; for them only
    the storage is compared, which still catches reloads and device/dtype moves.
    """
    version = None if tensor.is_inference() else tensor._version
    return tensor.data_ptr(), version, tensor.device, tensor.dtype


class LegacySpectralNorm(nn.Module):
    """Holds a legacy spectral-norm weight (``weight_orig``, ``weight_u``, ``weight_v``; optional ``bias``).

    Used on its own for the noise-BN linear layers of network C, which must be loaded for a strict key
    match but never take part in the computation (their input is an all-zero noise vector).
    """

    def __init__(self, weight_shape: tuple[int, ...], bias: bool) -> None:
        super().__init__()
        out_features = weight_shape[0]
        # bias is registered first: the legacy key order is bias, weight_orig, weight_u, weight_v.
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.weight_orig = nn.Parameter(torch.empty(weight_shape))
        self.register_buffer("weight_u", torch.empty(out_features))
        self.register_buffer("weight_v", torch.empty(math.prod(weight_shape[1:])))
        self.register_buffer("weight_folded", None, persistent=False)
        self._fold_signature: tuple | None = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Random but well-conditioned values so an unloaded layer is usable (tests, benchmarks)."""
        with torch.no_grad():
            nn.init.kaiming_uniform_(self.weight_orig, a=math.sqrt(5))
            self.weight_u.normal_()
            self.weight_u.div_(self.weight_u.norm())
            self.weight_v.normal_()
            self.weight_v.div_(self.weight_v.norm())
        self._fold_signature = None

    def _current_signature(self) -> tuple:
        return tuple(_tensor_signature(t) for t in (self.weight_orig, self.weight_u, self.weight_v))

    def fold(self) -> None:
        """Compute ``W = weight_orig / σ`` from the stored u, v (no power iteration, as in eval)."""
        with torch.no_grad():
            weight = self.weight_orig.float()
            matrix = weight.reshape(weight.shape[0], -1)
            sigma = torch.dot(self.weight_u.float(), torch.mv(matrix, self.weight_v.float()))
            if not bool(torch.isfinite(sigma)) or float(sigma) == 0.0:
                raise InputValueError(
                    f"spectral norm sigma = {float(sigma)} for a weight of shape {list(weight.shape)}: "
                    "weight_u/weight_v do not match weight_orig (corrupt or hand-made checkpoint?)"
                )
            self.weight_folded = (weight / sigma).to(self.weight_orig.dtype)
        self._fold_signature = self._current_signature()

    @property
    def weight(self) -> torch.Tensor:
        """The effective (folded) weight, refolded first if its sources changed since the last fold."""
        if self.weight_folded is None or self._fold_signature != self._current_signature():
            self.fold()
        return self.weight_folded

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, *args) -> None:
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, *args)
        loaded = all(prefix + name in state_dict for name in ("weight_orig", "weight_u", "weight_v"))
        if loaded and not self.weight_orig.is_meta:
            self.fold()


class SpectralNormConv2d(LegacySpectralNorm):
    """``nn.Conv2d`` wrapped by the legacy spectral norm (square kernel, eval semantics)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__((out_channels, in_channels, kernel_size, kernel_size), bias)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, cast_like(self.weight, x), cast_like(self.bias, x), self.stride, self.padding)

    def extra_repr(self) -> str:
        k = self.weight_orig.shape[-1]
        return f"{self.in_channels}, {self.out_channels}, kernel_size={k}, stride={self.stride}, padding={self.padding}"
