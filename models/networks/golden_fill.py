"""The deterministic "T2C-golden-fill-v2" weights (NETWORKS.md §7), written in place into a network.

The golden vectors in ``tests/golden`` were produced by the official classes filled with this rule, so the
conformance tests use it, and the benchmarks use it when no released checkpoint is at hand. Filling in
place (rather than building a second state dict) keeps network A's peak memory at one copy (1.3 GB).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import torch
from torch import nn

from .spectral import LegacySpectralNorm

FILL_RULE = "T2C-golden-fill-v2"
POWER_ITERATIONS = 30
_VARIANCE_SUFFIXES = ("running_var", "stored_var")
_SN_VECTOR_SUFFIXES = ("weight_u", "weight_v")


def _fill_entry(key: str, target: torch.Tensor) -> None:
    """Steps 1–5 of the rule for one state-dict entry (each key seeds its own CPU generator)."""
    generator = torch.Generator().manual_seed(zlib.crc32(key.encode("utf-8")))
    if key.endswith("num_batches_tracked") or not target.dtype.is_floating_point:
        target.zero_()
        return
    direct = target.dtype == torch.float32 and target.device.type == "cpu" and target.is_contiguous()
    values = target.detach() if direct else torch.empty(target.shape, dtype=torch.float32)
    if key.endswith(_VARIANCE_SUFFIXES):
        torch.rand(target.shape, generator=generator, out=values).add_(0.5)
    elif key.endswith(_SN_VECTOR_SUFFIXES):
        torch.randn(target.shape, generator=generator, out=values)
        values.div_(values.norm())
    else:
        torch.randn(target.shape, generator=generator, out=values).mul_(0.02)
    if not direct:
        target.copy_(values)


def _power_iteration(weight_orig: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 6: refine (u, v) towards the top singular pair so σ ≈ the true spectral norm."""
    matrix = weight_orig.reshape(weight_orig.shape[0], -1).float()
    v = v.float()
    for _ in range(POWER_ITERATIONS):
        u = matrix @ v
        u = u / u.norm()
        v = matrix.t() @ u
        v = v / v.norm()
    u = matrix @ v
    return u / u.norm(), v


def golden_fill_(network: nn.Module, sn_vectors: Mapping[str, torch.Tensor] | None = None) -> nn.Module:
    """Fill every state-dict entry of ``network`` in place with the golden rule; returns ``network``.

    ``sn_vectors`` (e.g. ``tests/golden/sn_vectors_<net>.safetensors``) supplies the exact ``weight_u`` /
    ``weight_v`` of the golden sets; without it they are recomputed by 30 power iterations, which a BLAS
    with different rounding reproduces only to about 1e-7. A network built on the meta device is
    materialised on the CPU first.
    """
    if any(t.is_meta for t in network.state_dict().values()):
        network.to_empty(device="cpu")
    entries = network.state_dict(keep_vars=True)
    with torch.no_grad():
        for key, target in entries.items():
            _fill_entry(key, target)
        for key in entries:
            if not key.endswith(".weight_u"):
                continue
            prefix = key[: -len("weight_u")]
            if sn_vectors is not None:
                u, v = sn_vectors[prefix + "weight_u"], sn_vectors[prefix + "weight_v"]
            else:
                u, v = _power_iteration(entries[prefix + "weight_orig"], entries[prefix + "weight_v"])
            entries[prefix + "weight_u"].copy_(u)
            entries[prefix + "weight_v"].copy_(v)
    for module in network.modules():
        if isinstance(module, LegacySpectralNorm):
            module.fold()
    return network
