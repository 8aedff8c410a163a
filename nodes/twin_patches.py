"""The shared-attention patches of T2C_TwinSampler, installed on a clone of the model (PIPELINE.md §1–2, §4).

The UNet batch of every call is ``[artistic…, twin…]`` per CFG chunk (B images each), so the twin's features come
from the artistic sample *in the same call*: nothing is stored across steps (the official code wrote 7 GB of
features to disk). Chunks follow ComfyUI's ``cond_or_uncond`` (0 = positive, 1 = unconditional), which may hold
both branches in one call or one per call; every patch splits by it, so cond gets cond and uncond gets uncond.

The twin's negative-prompt branch runs in an extra call on the twin latents only (saving one artistic
evaluation). It has no artistic rows, so the artistic *unconditional* branch's q/k and ResBlock features of the
same step are kept (one step's worth, output blocks 4–11) and injected there — the official mapping (the official
[neg, uncond] pass gives the negative branch the unconditional source features).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import comfy.model_patcher
import comfy.patcher_extension
import torch
from comfy.ldm.modules.attention import optimized_attention

from ..models.attention_capture import AttentionAccumulator, AttentionCapture

COND, UNCOND = 0, 1
"""ComfyUI's ``cond_or_uncond`` values of the positive and of the unconditional prompt."""

ATTENTION_BLOCKS = tuple(("output", i) for i in range(4, 12))
"""Self-attention whose q and k the twin takes from the artistic sample (official: output blocks 4–11)."""
FEATURE_BLOCK = "diffusion_model.output_blocks.4.0.out_layers"
"""The ResBlock residual branch the twin takes from the artistic sample (official: output block 4)."""
CAPTURE_BLOCKS = (("input", 4), ("input", 5), ("output", 6), ("output", 7), ("output", 8))
"""The 32×32 blocks (at 512²) whose attention feeds the mask (PIPELINE.md §4.1); latent size / 2 in general."""
CAPTURE_FRACTION = 0.56
"""Share of the steps (the least noisy ones) whose attention is averaged: official t ≤ 541, 28 of 50."""
WRAPPER_KEY = "t2c_twin"


def steps_of(fraction: float, steps: int) -> int:
    """How many of ``steps`` a fraction covers, rounded half up (0.52 of 50 = 26, 0.82 of 50 = 41)."""
    return min(steps, max(0, math.floor(fraction * steps + 0.5)))


@dataclass(frozen=True)
class TwinSchedule:
    """Which steps (0 = noisiest) inject and capture, and the twin's negative-prompt weights."""

    steps: int
    attention_steps: int
    """Steps 0 … attention_steps−1 inject self-attention q/k."""
    feature_steps: int
    """Steps 0 … feature_steps−1 inject the ResBlock residual."""
    capture_from: int
    """Steps capture_from … steps−1 are averaged into the attention capture."""
    negative_alphas: tuple[float, ...] | None
    """α_i per step (weight of the unconditional prediction in the twin's baseline); None = no negative prompt."""

    @classmethod
    def from_fractions(cls, steps: int, attention: float, features: float, negative_alpha: float) -> TwinSchedule:
        """Official defaults: 0.52 → 26 of 50, 0.82 → 41 of 50; α linear from ``negative_alpha`` to 0; α ≥ 1 = off."""
        for name, value in (("attention_injection", attention), ("feature_injection", features),
                            ("negative_alpha", negative_alpha)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive int, got {steps!r}")
        alphas = None
        if negative_alpha < 1.0:
            alphas = tuple(negative_alpha * (1.0 - i / (steps - 1)) if steps > 1 else negative_alpha
                           for i in range(steps))
        return cls(steps, steps_of(attention, steps), steps_of(features, steps),
                   steps - max(1, steps_of(CAPTURE_FRACTION, steps)), alphas)


def split_pairs(x: torch.Tensor, chunks: int, batch: int) -> torch.Tensor:
    """[chunks·2B, …] → [chunks, 2, B, …] (artistic at index 0, twin at 1), with a clear error otherwise."""
    if x.shape[0] != chunks * 2 * batch:
        raise RuntimeError(f"T2C_TwinSampler expected {chunks} chunk(s) of [artistic ×{batch}, twin ×{batch}] "
                           f"in the UNet batch, got {x.shape[0]} rows; area or multi-entry conditionings "
                           "are not supported here")
    return x.reshape(chunks, 2, batch, *x.shape[1:])


def artistic_everywhere(x: torch.Tensor, chunks: int, batch: int) -> torch.Tensor:
    """The batch with each chunk's twin rows replaced by its artistic rows."""
    pairs = split_pairs(x, chunks, batch)
    return pairs[:, :1].expand_as(pairs).reshape(x.shape)


def per_head(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[B, N, heads·d] → [B, heads, N, d]."""
    return x.reshape(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)


class AttentionRecorder:
    """Feeds :class:`AttentionAccumulator` s with the artistic images' attention: one per CFG branch, so the
    capture holds branches × heads maps (unconditional first, as the official), and per-word cross-attention
    maps of the positive branch when the prompt's token strings are known."""

    def __init__(self, latent_hw: tuple[int, int], tokens: list[str] | None, token_repeat: int = 1):
        height, width = int(latent_hw[0]), int(latent_hw[1])
        self.grid = (math.ceil(height / 2), math.ceil(width / 2))
        self.image_size = (8 * height, 8 * width)
        self.tokens = tokens
        self.token_repeat = token_repeat
        self.branches: dict[int, AttentionAccumulator] = {}

    def _accumulator(self, branch: int) -> AttentionAccumulator:
        if branch not in self.branches:
            self.branches[branch] = AttentionAccumulator(self.grid, self.image_size)
        return self.branches[branch]

    def add_self(self, cond_or_uncond: list[int], q: torch.Tensor, k: torch.Tensor, heads: int) -> None:
        """q, k: [chunks, B, N, heads·d] of the artistic rows."""
        for chunk, branch in enumerate(cond_or_uncond):
            self._accumulator(branch).add_qk(per_head(q[chunk], heads), per_head(k[chunk], heads))

    def add_cross(self, cond_or_uncond: list[int], q: torch.Tensor, k: torch.Tensor, heads: int) -> None:
        """q: [chunks, B, N, heads·d], k: [chunks, B, T, heads·d] of the artistic rows; positive branch only."""
        if self.tokens is None or COND not in cond_or_uncond:
            return
        chunk = cond_or_uncond.index(COND)
        qh, kh = per_head(q[chunk], heads).float(), per_head(k[chunk], heads).float()
        probs = (qh @ kh.transpose(-1, -2) / math.sqrt(qh.shape[-1])).softmax(dim=-1)
        self._accumulator(COND).add_cross_probs(probs)

    def result(self) -> AttentionCapture:
        """The capture; a prompt repeated to a longer context (batched with a longer one) is folded back."""
        branches = [b for b in (UNCOND, COND) if b in self.branches]
        if not branches:
            raise RuntimeError("T2C_TwinSampler captured no attention: the sampler made no UNet call in the "
                               "capture steps")
        captures = {b: self.branches[b].capture(self.tokens if b == COND else None) for b in branches}
        cross = captures[COND].cross_attn if COND in captures else None
        if cross is not None and self.token_repeat > 1:
            cross = cross.reshape(cross.shape[0], self.token_repeat, -1, *cross.shape[2:]).sum(dim=1)
        return AttentionCapture(
            self_attn=torch.cat([captures[b].self_attn for b in branches], dim=1),
            grid=self.grid,
            image_size=self.image_size,
            cross_attn=cross,
            tokens=self.tokens if cross is not None else None,
            steps=captures[branches[-1]].steps,
        ).validate()


class TwinState:
    """What the patches of one run share: the step, the current UNet call's chunks, one step of artistic
    unconditional features for the negative branch. Inert once closed, so a patch left on the module by an
    aborted run changes nothing."""

    def __init__(self, batch: int, schedule: TwinSchedule, recorder: AttentionRecorder | None):
        self.batch = batch
        self.schedule = schedule
        self.recorder = recorder
        self.step = 0
        self.chunks: list[int] = []
        self.negative_pass = False
        self.keep_for_negative = False
        self.bank: dict[object, torch.Tensor] = {}
        self.active = True

    def __deepcopy__(self, memo) -> TwinState:
        return self  # ModelPatcher.clone() deep-copies model_options; all patches must keep one shared state

    def start_step(self, step: int, keep_for_negative: bool) -> None:
        self.step = step
        self.keep_for_negative = keep_for_negative
        self.bank.clear()

    @contextlib.contextmanager
    def negative_branch(self):
        """Marks the twin-only UNet call of the negative prompt."""
        self.negative_pass = True
        try:
            yield
        finally:
            self.negative_pass = False

    @property
    def inject_attention(self) -> bool:
        return self.active and self.step < self.schedule.attention_steps

    @property
    def inject_features(self) -> bool:
        return self.active and self.step < self.schedule.feature_steps

    @property
    def capturing(self) -> bool:
        return (self.active and self.recorder is not None and not self.negative_pass
                and self.step >= self.schedule.capture_from)

    def share(self, key: object, x: torch.Tensor, chunks: list[int]) -> torch.Tensor:
        """Main call: keep the artistic unconditional rows if the negative branch needs them, return the batch
        with the artistic rows in the twin's place. Negative call: return the kept rows."""
        if self.negative_pass:
            return self.bank[key].expand(x.shape[0] // self.batch, *self.bank[key].shape).reshape(x.shape)
        if self.keep_for_negative and UNCOND in chunks:
            self.bank[key] = split_pairs(x, len(chunks), self.batch)[chunks.index(UNCOND), 0].clone()
        return artistic_everywhere(x, len(chunks), self.batch)

    def close(self) -> None:
        self.active = False
        self.bank.clear()


class SharedSelfAttention:
    """attn1 replacement: the twin's q and k are the artistic's (injection steps); records the artistic's
    attention at the capture blocks. V stays the twin's own, so the artistic map re-mixes the twin's values."""

    def __init__(self, state: TwinState, block: tuple[str, int], inject: bool, capture: bool):
        self.state, self.block, self.inject, self.capture = state, block, inject, capture

    def __call__(self, q, k, v, extra_options):
        state, heads = self.state, extra_options["n_heads"]
        chunks = list(extra_options["cond_or_uncond"])
        if self.capture and state.capturing:
            state.recorder.add_self(chunks, split_pairs(q, len(chunks), state.batch)[:, 0],
                                    split_pairs(k, len(chunks), state.batch)[:, 0], heads)
        if self.inject and state.inject_attention:
            q = state.share((self.block, "q"), q, chunks)
            k = state.share((self.block, "k"), k, chunks)
        return optimized_attention(q, k, v, heads, attn_precision=extra_options["attn_precision"],
                                   transformer_options=extra_options)


class CrossAttentionRecorder:
    """attn2 replacement at the capture blocks: records the artistic's prompt-token attention, output unchanged."""

    def __init__(self, state: TwinState):
        self.state = state

    def __call__(self, q, k, v, extra_options):
        state, heads = self.state, extra_options["n_heads"]
        if state.capturing:
            chunks = list(extra_options["cond_or_uncond"])
            state.recorder.add_cross(chunks, split_pairs(q, len(chunks), state.batch)[:, 0],
                                     split_pairs(k, len(chunks), state.batch)[:, 0], heads)
        return optimized_attention(q, k, v, heads, attn_precision=extra_options["attn_precision"],
                                   transformer_options=extra_options)


class SharedResidual:
    """Replaces ``out_layers.forward`` of the feature ResBlock: the twin's residual branch is the artistic's
    (injection steps); the skip path still carries the twin's own input."""

    def __init__(self, state: TwinState, original):
        self.state, self.original = state, original

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        h = self.original(h)
        if not self.state.inject_features:
            return h
        return self.state.share(FEATURE_BLOCK, h, self.state.chunks)


class ChunkTracker:
    """APPLY_MODEL wrapper: tells the ResBlock patch (which sees no transformer_options) the call's chunks."""

    def __init__(self, state: TwinState):
        self.state = state

    def __call__(self, executor, *args, **kwargs):
        options = kwargs.get("transformer_options", args[5] if len(args) > 5 else {})
        self.state.chunks = list(options.get("cond_or_uncond", []))
        return executor(*args, **kwargs)


def patch_twin_model(model: comfy.model_patcher.ModelPatcher, state: TwinState,
                     cross_capture: bool) -> comfy.model_patcher.ModelPatcher:
    """A clone of ``model`` with the twin patches; ``model`` itself is never modified."""
    patched = model.clone()
    for kind, index in ATTENTION_BLOCKS + CAPTURE_BLOCKS[:2]:
        block = (kind, index)
        patch = SharedSelfAttention(state, block, inject=block in ATTENTION_BLOCKS, capture=block in CAPTURE_BLOCKS)
        patched.set_model_attn1_replace(patch, kind, index)
    if cross_capture:
        for kind, index in CAPTURE_BLOCKS:
            patched.set_model_attn2_replace(CrossAttentionRecorder(state), kind, index)
    forward = f"{FEATURE_BLOCK}.forward"
    patched.add_object_patch(forward, SharedResidual(state, patched.get_model_object(forward)))
    patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, WRAPPER_KEY, ChunkTracker(state))
    return patched
