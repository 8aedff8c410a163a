"""The ``T2C_ATTENTION`` data contract: diffusion attention captured during sampling (docs/pipeline.md#3-region-mask).

The official code saved q/k of every step to disk (7 GB) and recomputed the attention afterwards. Here the
sampler feeds an :class:`AttentionAccumulator` while it samples, which keeps only a running mean in O(N²)
memory (64 MB for one 512² image), and hands an :class:`AttentionCapture` to the mask nodes.

Token order everywhere is row-major over the attention grid: token ``n`` sits at row ``n // gw``, column
``n % gw`` (Stable Diffusion flattens ``h w`` in that order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..checks import InputShapeError, InputTypeError, InputValueError, check_size


def aspect_matches(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> bool:
    """Whether two sizes share an aspect ratio, up to one cell of ``src`` or 2 % (rounding of latent sizes)."""
    predicted_w = src_hw[0] * dst_hw[1] / dst_hw[0]
    return abs(predicted_w - src_hw[1]) <= max(1.0, 0.02 * src_hw[1])


@dataclass
class AttentionCapture:
    """Attention averaged over sampling steps and blocks, for a batch of B images.

    self_attn:  float32 [B, R, N, N]; row n of each of the R maps is softmax(q_n·kᵀ/√d) over the N keys,
                R = CFG branches × heads (official: 2 × 8 = 16, uncond first), N = gh·gw.
    grid:       (gh, gw) of the attention blocks (32×32 for a 512² image).
    image_size: (H, W) in pixels of the image the attention belongs to.
    cross_attn: optional float32 [B, T, gh, gw]: prompt-token cross-attention maps (mean over heads, steps).
    tokens:     the T token strings of ``cross_attn``: CLIP BPE pieces as the tokenizer decodes them, a piece that
                ends a word carries ``</w>`` ("water</w>"), special tokens ("<|startoftext|>") may be present.
                Plain words without any ``</w>`` are accepted too; each is then one word.
    steps:      how many attention maps (steps × blocks) went into the mean; 0 = unknown.
    """

    self_attn: torch.Tensor
    grid: tuple[int, int]
    image_size: tuple[int, int]
    cross_attn: torch.Tensor | None = None
    tokens: list[str] | None = None
    steps: int = 0

    @property
    def batch_size(self) -> int:
        return int(self.self_attn.shape[0])

    def validate(self) -> AttentionCapture:
        """Raise a clear error for any inconsistency; return self so calls can be chained."""
        gh, gw = check_size(self.grid, "AttentionCapture.grid")
        height, width = check_size(self.image_size, "AttentionCapture.image_size")
        attn = self.self_attn
        if not isinstance(attn, torch.Tensor) or attn.dtype != torch.float32 or attn.ndim != 4:
            raise InputTypeError(
                "AttentionCapture.self_attn must be a float32 tensor [B, R, N, N], got "
                f"{type(attn).__name__} {getattr(attn, 'dtype', '')} {tuple(getattr(attn, 'shape', ()))}")
        if attn.shape[-1] != attn.shape[-2] or attn.shape[-1] != gh * gw:
            raise InputShapeError(f"self_attn must be [B, R, N, N] with N = gh*gw = {gh * gw} for grid {self.grid}, "
                                  f"got {tuple(attn.shape)}")
        if attn.shape[0] == 0 or attn.shape[1] == 0:
            raise InputShapeError(f"self_attn has an empty batch or row dimension: {tuple(attn.shape)}")
        if not torch.isfinite(attn).all():
            raise InputValueError("self_attn contains NaN or Inf; the sampler produced invalid attention")
        if not aspect_matches((gh, gw), (height, width)):
            raise InputShapeError(f"grid {self.grid} does not have the aspect ratio of image_size {self.image_size}")
        if self.cross_attn is not None:
            self._validate_cross(attn.shape[0], gh, gw)
        if not isinstance(self.steps, int) or self.steps < 0:
            raise InputValueError(f"steps must be a non-negative int, got {self.steps!r}")
        return self

    def _validate_cross(self, batch: int, gh: int, gw: int) -> None:
        cross = self.cross_attn
        if not isinstance(cross, torch.Tensor) or cross.dtype != torch.float32 or cross.ndim != 4:
            raise InputTypeError("cross_attn must be a float32 tensor [B, T, gh, gw]")
        if cross.shape[0] != batch or tuple(cross.shape[2:]) != (gh, gw):
            raise InputShapeError(f"cross_attn must be [B={batch}, T, {gh}, {gw}], got {tuple(cross.shape)}")
        if not torch.isfinite(cross).all():
            raise InputValueError("cross_attn contains NaN or Inf")
        tokens = self.tokens
        if tokens is None or not all(isinstance(t, str) for t in tokens) or len(tokens) != cross.shape[1]:
            raise InputShapeError(f"tokens must be a list of {cross.shape[1]} strings, one per cross_attn map")


class AttentionAccumulator:
    """Running mean of attention maps fed once per (step, block) by the sampler; memory stays O(N²).

    Feed either (q, k) with :meth:`add_qk` or probabilities with :meth:`add_probs`; accepted shapes are
    [B, R, N, ·] or [R, N, ·] (B = 1). Sums are kept in float32 on the device of the first input.
    Official sources (docs/pipeline.md#attention-capture): the artistic pass, both CFG branches, the 28
    least-noisy of 50 steps (t ≤ 541), self-attention of input blocks 4, 5 and output blocks 6, 7, 8 (all 32×32
    at 512²).
    """

    def __init__(self, grid: tuple[int, int], image_size: tuple[int, int]) -> None:
        self.grid = check_size(grid, "grid")
        self.image_size = check_size(image_size, "image_size")
        self._self_sum: torch.Tensor | None = None
        self._self_count = 0
        self._cross_sum: torch.Tensor | None = None
        self._cross_count = 0

    @property
    def num_tokens(self) -> int:
        return self.grid[0] * self.grid[1]

    def _batched(self, x: torch.Tensor, name: str, last: int | None) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise InputTypeError(f"{name} must be a floating-point tensor")
        x = x.unsqueeze(0) if x.ndim == 3 else x
        if x.ndim != 4 or x.shape[2] != self.num_tokens or (last is not None and x.shape[3] != last):
            want = f"[B, R, {self.num_tokens}, {last if last is not None else 'd'}]"
            raise InputShapeError(f"{name} must be {want} (or without B) for grid {self.grid}, got {tuple(x.shape)}")
        return x

    def add_qk(self, q: torch.Tensor, k: torch.Tensor, scale: float | None = None) -> None:
        """Add softmax(q·kᵀ·scale) (scale defaults to 1/√d), one row group at a time to bound peak memory."""
        q, k = self._batched(q, "q", None), self._batched(k, "k", None)
        if q.shape != k.shape:
            raise InputShapeError(f"q and k must have the same shape, got {tuple(q.shape)} and {tuple(k.shape)}")
        scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
        probs = torch.empty(q.shape[:3] + (self.num_tokens,), dtype=torch.float32, device=q.device)
        for r in range(q.shape[1]):
            logits = torch.matmul(q[:, r].float(), k[:, r].float().transpose(-1, -2)) * scale
            probs[:, r] = logits.softmax(dim=-1)
        self.add_probs(probs)

    @staticmethod
    def _summed(total: torch.Tensor | None, value: torch.Tensor, what: str) -> torch.Tensor:
        if total is None:
            return value.clone()
        if value.shape != total.shape:
            raise InputShapeError(f"{what} shape {tuple(value.shape)} differs from earlier {tuple(total.shape)}")
        return total.add_(value)

    def add_probs(self, probs: torch.Tensor) -> None:
        probs = self._batched(probs, "probs", self.num_tokens).float()
        self._self_sum = self._summed(self._self_sum, probs, "probs")
        self._self_count += 1

    def add_cross_probs(self, probs: torch.Tensor) -> None:
        """Add cross-attention probabilities [B, heads, N, T] (or without B); heads are averaged."""
        probs = self._batched(probs, "cross probs", None).float().mean(dim=1)
        maps = probs.transpose(1, 2).reshape(probs.shape[0], probs.shape[2], *self.grid)
        self._cross_sum = self._summed(self._cross_sum, maps, "cross-attention maps")
        self._cross_count += 1

    def capture(self, tokens: list[str] | None = None) -> AttentionCapture:
        """The mean so far as a validated CPU :class:`AttentionCapture`."""
        if self._self_sum is None:
            raise InputValueError("no self-attention was added; call add_qk or add_probs during sampling first")
        cross = None if self._cross_sum is None else (self._cross_sum / self._cross_count).cpu()
        return AttentionCapture(
            self_attn=(self._self_sum / self._self_count).cpu(),
            grid=self.grid,
            image_size=self.image_size,
            cross_attn=cross,
            tokens=list(tokens) if tokens is not None else None,
            steps=self._self_count,
        ).validate()
