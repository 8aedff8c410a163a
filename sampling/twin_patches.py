"""The shared-attention patches of T2C_TwinSampler, installed on a clone of the model (docs/pipeline.md#2-twin-sampler).

Every UNet call of the twin sampler is a stack of groups of B rows (B = images per latent batch), each an image
(artistic or twin) in a CFG branch. ``cond_or_uncond`` labels each group with its branch (0 = positive,
1 = unconditional or negative), so other patches that split the batch by it keep working, and
``transformer_options[IMAGES_KEY]`` says which image each group is. A twin group takes its q/k and features from
the artistic group of its branch *in the same call*: nothing is stored across steps (the official code wrote 7 GB
of features to disk). The twin's negative-prompt group is a twin group of the unconditional branch, so it gets the
artistic unconditional features — the official mapping (its [neg, uncond] pass gives the negative branch the
unconditional source features) — and costs one extra group in the same call, not a call of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import comfy.model_patcher
import comfy.patcher_extension
import torch
from comfy.ldm.modules.attention import optimized_attention

from ..models.region.attention_capture import AttentionAccumulator, AttentionCapture
from .schedule import TwinSchedule

COND, UNCOND = 0, 1
"""ComfyUI's ``cond_or_uncond`` values of the positive and of the unconditional prompt."""
ARTISTIC, TWIN = 0, 1
"""The images of :data:`IMAGES_KEY`."""
IMAGES_KEY = "t2c_images"
"""transformer_options entry: the image (ARTISTIC or TWIN) of each group of B rows, one per ``cond_or_uncond``."""

ATTENTION_BLOCKS = tuple(("output", i) for i in range(4, 12))
"""Self-attention whose q and k the twin takes from the artistic sample (official: output blocks 4–11)."""
FEATURE_BLOCK = "diffusion_model.output_blocks.4.0.out_layers"
"""The ResBlock residual branch the twin takes from the artistic sample (official: output block 4)."""
CAPTURE_INPUT_BLOCKS = (("input", 4), ("input", 5))
CAPTURE_OUTPUT_BLOCKS = (("output", 6), ("output", 7), ("output", 8))
CAPTURE_BLOCKS = CAPTURE_INPUT_BLOCKS + CAPTURE_OUTPUT_BLOCKS
"""The 32×32 blocks (at 512²) whose attention feeds the mask (docs/pipeline.md#attention-capture); latent size / 2
in general. The output ones are injection blocks too; the input ones are patched only to record."""
SLICED_BLOCKS = (("input", 1), ("input", 2))
"""The other self-attention blocks at full latent resolution (64×64 tokens at 512²), patched only to be sliced."""
SELF_ATTENTION_BLOCKS = ATTENTION_BLOCKS + CAPTURE_INPUT_BLOCKS + SLICED_BLOCKS
"""Every self-attention block that gets a :class:`SharedSelfAttention`, each once."""
assert set(CAPTURE_OUTPUT_BLOCKS) <= set(ATTENTION_BLOCKS) and len(set(SELF_ATTENTION_BLOCKS)) == len(
    SELF_ATTENTION_BLOCKS)
TRANSFORMER_OPTIONS_ARG = 5
"""Position of ``transformer_options`` in the arguments of ``BaseModel.apply_model`` (x, t, c_concat, c_crossattn,
control, transformer_options) when an APPLY_MODEL wrapper receives them positionally."""
WRAPPER_KEY = "t2c_twin"


@dataclass(frozen=True)
class RowLayout:
    """What the groups of B rows of one UNet call are: their image and their CFG branch."""

    images: tuple[int, ...]
    branches: tuple[int, ...]
    batch: int

    @classmethod
    def of_call(cls, options: dict, batch: int) -> RowLayout:
        images, branches = options.get(IMAGES_KEY), options.get("cond_or_uncond")
        if images is None or branches is None or len(images) != len(branches):
            raise RuntimeError("T2C_TwinSampler's patched model was called without its row layout; it can only "
                               "be sampled by T2C_TwinSampler itself")
        return cls(tuple(images), tuple(branches), batch)

    def groups(self, x: torch.Tensor) -> torch.Tensor:
        """[groups·B, …] → [groups, B, …], with a clear error for a batch of another size."""
        if x.shape[0] != len(self.images) * self.batch:
            raise RuntimeError(f"T2C_TwinSampler expected {len(self.images)} groups of {self.batch} row(s) in the "
                               f"UNet batch, got {x.shape[0]} rows")
        return x.reshape(len(self.images), self.batch, *x.shape[1:])

    def artistic(self) -> list[int]:
        return [g for g, image in enumerate(self.images) if image == ARTISTIC]

    def sources(self) -> list[int]:
        """For every group, the group whose q/k and features it uses: a twin takes the artistic of its branch."""
        by_branch = {self.branches[g]: g for g in self.artistic()}
        return [g if image == ARTISTIC else by_branch[branch]
                for g, (image, branch) in enumerate(zip(self.images, self.branches, strict=True))]

    def artistic_everywhere(self, x: torch.Tensor) -> torch.Tensor:
        """The batch with every twin group replaced by the artistic group of its branch."""
        return self.groups(x)[self.sources()].reshape(x.shape)


def per_head(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[B, N, heads·d] → [B, heads, N, d]."""
    return x.reshape(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)


class AttentionRecorder:
    """Feeds :class:`AttentionAccumulator` s with the artistic images' attention: one per CFG branch, so the
    capture holds branches × heads maps (unconditional first, as the official), and per-word cross-attention
    maps of the positive branch when the prompt's token strings are known."""

    def __init__(self, latent_hw: tuple[int, int], tokens: list[str] | None):
        height, width = int(latent_hw[0]), int(latent_hw[1])
        self.grid = (math.ceil(height / 2), math.ceil(width / 2))
        self.image_size = (8 * height, 8 * width)
        self.tokens = tokens
        self.branches: dict[int, AttentionAccumulator] = {}

    def _accumulator(self, branch: int) -> AttentionAccumulator:
        if branch not in self.branches:
            self.branches[branch] = AttentionAccumulator(self.grid, self.image_size)
        return self.branches[branch]

    def add_self(self, layout: RowLayout, q: torch.Tensor, k: torch.Tensor, heads: int) -> None:
        """q, k: [rows, N, heads·d] of a whole call; the artistic groups are recorded."""
        q, k = layout.groups(q), layout.groups(k)
        for group in layout.artistic():
            self._accumulator(layout.branches[group]).add_qk(per_head(q[group], heads), per_head(k[group], heads))

    def add_cross(self, layout: RowLayout, q: torch.Tensor, k: torch.Tensor, heads: int) -> None:
        """q: [rows, N, heads·d], k: [rows, r·T, heads·d] of a whole call; the artistic positive group only. A
        prompt repeated r times (batched with longer prompts) is folded back onto its T tokens."""
        groups = [g for g in layout.artistic() if layout.branches[g] == COND]
        if self.tokens is None or not groups:
            return
        q, k = layout.groups(q)[groups[0]], layout.groups(k)[groups[0]]
        qh, kh = per_head(q, heads).float(), per_head(k, heads).float()
        probs = (qh @ kh.transpose(-1, -2) / math.sqrt(qh.shape[-1])).softmax(dim=-1)
        self._accumulator(COND).add_cross_probs(probs.unflatten(-1, (-1, len(self.tokens))).sum(dim=-2))

    def result(self) -> AttentionCapture:
        """The capture of the whole run."""
        branches = [b for b in (UNCOND, COND) if b in self.branches]
        if not branches:
            raise RuntimeError("T2C_TwinSampler captured no attention: the sampler made no UNet call in the "
                               "capture steps")
        captures = {b: self.branches[b].capture(self.tokens if b == COND else None) for b in branches}
        cross = captures[COND].cross_attn if COND in captures else None
        return AttentionCapture(
            self_attn=torch.cat([captures[b].self_attn for b in branches], dim=1),
            grid=self.grid,
            image_size=self.image_size,
            cross_attn=cross,
            tokens=self.tokens if cross is not None else None,
            steps=captures[branches[-1]].steps,
        ).validate()


class TwinState:
    """What the patches of one run share: the step and the layout of the current UNet call. Inert once closed, so
    a patch left on the module by an aborted run changes nothing."""

    def __init__(self, batch: int, schedule: TwinSchedule, recorder: AttentionRecorder | None):
        self.batch = batch
        self.schedule = schedule
        self.recorder = recorder
        self.step = 0
        self.layout: RowLayout | None = None
        self.active = True

    def __deepcopy__(self, memo) -> TwinState:
        return self  # ModelPatcher.clone() deep-copies model_options; all patches must keep one shared state

    @property
    def inject_attention(self) -> bool:
        return self.active and self.step < self.schedule.attention_steps

    @property
    def inject_features(self) -> bool:
        return self.active and self.step < self.schedule.feature_steps

    @property
    def capturing(self) -> bool:
        return self.active and self.recorder is not None and self.step >= self.schedule.capture_from

    def close(self) -> None:
        self.active = False


def sliced_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, extra_options: dict,
                     rows: int) -> torch.Tensor:
    """ComfyUI's attention, ``rows`` rows at a time. Implementations that hold the whole score matrix (ComfyUI's
    default on CPU) would otherwise need a quarter more memory for the twin's negative group than a plain sampler
    does for its four rows; one CFG branch at a time needs half of it, at no cost in speed."""
    def attend(sl: slice) -> torch.Tensor:
        return optimized_attention(q[sl], k[sl], v[sl], heads, attn_precision=extra_options["attn_precision"],
                                   transformer_options=extra_options)

    if q.shape[0] <= rows:
        return attend(slice(None))
    return torch.cat([attend(slice(start, start + rows)) for start in range(0, q.shape[0], rows)])


class SharedSelfAttention:
    """attn1 replacement: the twin's q and k are the artistic's (injection steps); records the artistic's
    attention at the capture blocks. V stays the twin's own, so the artistic map re-mixes the twin's values.
    Evaluated two groups (one CFG branch's worth of rows) at a time."""

    def __init__(self, state: TwinState, block: tuple[str, int], inject: bool | None = None,
                 capture: bool | None = None):
        """The block's roles follow from where it is (``inject``: an injection block, ``capture``: a capture
        block) unless given."""
        self.state = state
        self.inject = block in ATTENTION_BLOCKS if inject is None else inject
        self.capture = block in CAPTURE_BLOCKS if capture is None else capture

    def __call__(self, q, k, v, extra_options):
        state, heads = self.state, extra_options["n_heads"]
        if state.active:
            layout = RowLayout.of_call(extra_options, state.batch)
            if self.capture and state.capturing:
                state.recorder.add_self(layout, q, k, heads)
            if self.inject and state.inject_attention:
                q, k = layout.artistic_everywhere(q), layout.artistic_everywhere(k)
        return sliced_attention(q, k, v, heads, extra_options, rows=2 * state.batch)


class CrossAttentionRecorder:
    """attn2 replacement at the capture blocks: records the artistic's prompt-token attention, output unchanged."""

    def __init__(self, state: TwinState):
        self.state = state

    def __call__(self, q, k, v, extra_options):
        state, heads = self.state, extra_options["n_heads"]
        if state.capturing:
            state.recorder.add_cross(RowLayout.of_call(extra_options, state.batch), q, k, heads)
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
        return self.state.layout.artistic_everywhere(h)


class LayoutTracker:
    """APPLY_MODEL wrapper: tells the ResBlock patch (which sees no transformer_options) the call's row layout."""

    def __init__(self, state: TwinState):
        self.state = state

    def __call__(self, executor, *args, **kwargs):
        positional = args[TRANSFORMER_OPTIONS_ARG] if len(args) > TRANSFORMER_OPTIONS_ARG else {}
        options = kwargs.get("transformer_options", positional)
        if self.state.active:
            self.state.layout = RowLayout.of_call(options, self.state.batch)
        return executor(*args, **kwargs)


def patch_twin_model(model: comfy.model_patcher.ModelPatcher, state: TwinState,
                     cross_capture: bool) -> comfy.model_patcher.ModelPatcher:
    """A clone of ``model`` with the twin patches; ``model`` itself is never modified."""
    patched = model.clone()
    for kind, index in SELF_ATTENTION_BLOCKS:
        patched.set_model_attn1_replace(SharedSelfAttention(state, (kind, index)), kind, index)
    if cross_capture:
        for kind, index in CAPTURE_BLOCKS:
            patched.set_model_attn2_replace(CrossAttentionRecorder(state), kind, index)
    forward = f"{FEATURE_BLOCK}.forward"
    patched.add_object_patch(forward, SharedResidual(state, patched.get_model_object(forward)))
    patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, WRAPPER_KEY, LayoutTracker(state))
    return patched
