"""T2C_TwinPrompt and T2C_TwinSampler: the artistic image and its realistic twin in one sampling pass.

The twin (PIPELINE.md §2) is a second image from the *same* initial noise whose self-attention q/k (output
blocks 4–11) and output-block-4 ResBlock residual are the artistic image's during the first steps, so it keeps
the painting's layout with realistic content — what segmentation and flow prediction need. Both images are
sampled as one batch [artistic, twin]; the artistic one is bit-for-bit what a plain sampler would give (up to
batching round-off). The artistic image's attention is averaged along the way for the mask node (§4).
"""

from __future__ import annotations

import functools
import logging
import math
import uuid
from dataclasses import dataclass

import comfy.conds
import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.sd1_clip
import comfy.supported_models
import comfy.utils
import latent_preview
import torch
from comfy_api.latest import io

from ..models.prompt.twin_prompt import split_prompt
from .twin_patches import (
    ARTISTIC,
    COND,
    IMAGES_KEY,
    TWIN,
    UNCOND,
    AttentionRecorder,
    TwinSchedule,
    TwinState,
    patch_twin_model,
)
from .types import CATEGORY, Attention

log = logging.getLogger(__name__)

FLIPPED_START_SIGMA = 1e-4
"""An inversion cannot start at σ = 0 (the step divides by σ); ComfyUI's FlipSigmas uses the same value."""


class TwinPrompt(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="T2C_TwinPrompt",
            display_name="Twin Prompt",
            category=CATEGORY,
            description="Splits the artistic prompt into what the sampler needs: the prompt without its direction "
                        "phrase, the realistic twin prompt (the region words it names + \"nature, bright, "
                        "realistic, photography, 4k, 8k\") and the direction phrase for Text Flow.",
            inputs=[
                io.String.Input("prompt", multiline=True,
                                default="a large waterfall falling from hills during sunset in the style of "
                                        "Leonid Afremov",
                                tooltip="The artistic prompt. A direction (\"in upwards direction\", \"flowing "
                                        "to the left\") is taken out and passed on separately."),
                io.String.Input("twin_prompt", multiline=True, default="",
                                tooltip="Optional: your own realistic twin prompt. Empty = derived from the "
                                        "region words (waterfall, river, sea, clouds, smoke, fire, fog, …)."),
            ],
            outputs=[io.String.Output(display_name="artistic"), io.String.Output(display_name="twin"),
                     io.String.Output(display_name="direction")],
        )

    @classmethod
    def execute(cls, prompt, twin_prompt="") -> io.NodeOutput:
        prompts = split_prompt(prompt, twin_prompt)
        return io.NodeOutput(prompts.artistic, prompts.twin, prompts.direction)


# ------------------------------------------------------------------------------------------------ checks


def check_sd1(model) -> None:
    """SD1.x only: the block numbers of the injection and the capture are those of the SD1 UNet."""
    config = getattr(getattr(model, "model", None), "model_config", None)
    if not isinstance(config, comfy.supported_models.SD15) or config.unet_config.get("in_channels", 4) != 4:
        name = type(config).__name__ if config is not None else type(model).__name__
        raise ValueError(f"T2C_TwinSampler supports Stable Diffusion 1.x models (SD1.4, SD1.5 and their "
                         f"fine-tunes); this model is {name}. Load an SD1.x checkpoint.")


UNSUPPORTED_OPTIONS = {"control": "ControlNet", "hooks": "hooks", "area": "areas", "mask": "masks",
                       "gligen": "GLIGEN"}
"""Conditioning extras the twin sampler's own UNet calls do not apply: refused rather than silently dropped."""


def single_context(conditioning, name: str, context_dim: int) -> torch.Tensor:
    """The [1, tokens, dim] embeddings of a one-prompt CONDITIONING, or a clear error."""
    if not isinstance(conditioning, list) or not conditioning:
        raise ValueError(f"{name} is empty: connect a CLIPTextEncode")
    if len(conditioning) != 1:
        raise ValueError(f"{name} holds {len(conditioning)} combined conditionings; T2C_TwinSampler needs one "
                         "prompt per input (use one CLIPTextEncode, or ConditioningConcat instead of Combine)")
    context, options = conditioning[0]
    if not isinstance(context, torch.Tensor) or context.ndim != 3 or context.shape[-1] != context_dim:
        shape = tuple(context.shape) if isinstance(context, torch.Tensor) else type(context).__name__
        raise ValueError(f"{name} must be SD1.x text embeddings [1, 77·k, {context_dim}], got {shape}: encode "
                         "it with the same checkpoint's CLIP")
    extras = [label for key, label in UNSUPPORTED_OPTIONS.items() if options.get(key) is not None]
    if extras:
        raise ValueError(f"{name} carries {', '.join(extras)}, which T2C_TwinSampler does not apply (the twin "
                         "must follow the artistic image's own layout): connect the plain CLIPTextEncode output")
    return context


@functools.lru_cache(maxsize=1)
def sd1_tokenizer() -> comfy.sd1_clip.SDTokenizer:
    return comfy.sd1_clip.SDTokenizer()  # ComfyUI's bundled CLIP vocabulary: nothing is downloaded


def prompt_tokens(prompt: str, length: int) -> list[str]:
    """The CLIP token strings of ``prompt`` as CLIPTextEncode lays them out (77 per chunk, padded), which must
    cover the ``length`` token embeddings of the artistic conditioning."""
    tokenizer = sd1_tokenizer()
    chunks = tokenizer.tokenize_with_weights(prompt)
    tokens = [tokenizer.inv_vocab.get(token, "<embedding>") if isinstance(token, int) else "<embedding>"
              for chunk in chunks for token, *_ in chunk]
    if len(tokens) != length:
        raise ValueError(f"prompt gives {len(tokens)} tokens but the positive conditioning has {length}: connect "
                         "the same text that the artistic CLIPTextEncode encodes (or leave prompt empty)")
    return tokens


# ------------------------------------------------------------------------------------------------ sampling


def step_index(sample_sigmas: torch.Tensor, sigma: torch.Tensor) -> int:
    """The step (0 = noisiest) a model call belongs to; intermediate σ of 2nd-order samplers count to their step."""
    above = int((sample_sigmas[:-1] >= float(sigma) * (1 - 1e-4)).sum())
    return max(above - 1, 0)


class Trajectory:
    """Latents of an inversion at known σ; any σ in between is interpolated linearly."""

    def __init__(self, sigmas: list[float], latents: list[torch.Tensor]):
        order = sorted(range(len(sigmas)), key=sigmas.__getitem__)
        self.sigmas = torch.tensor([sigmas[i] for i in order], dtype=torch.float64)
        self.latents = [latents[i] for i in order]

    def at(self, sigma: float) -> torch.Tensor:
        upper = int(torch.searchsorted(self.sigmas, torch.tensor(float(sigma), dtype=torch.float64)))
        upper = min(max(upper, 1), len(self.latents) - 1)
        lo, hi = float(self.sigmas[upper - 1]), float(self.sigmas[upper])
        weight = min(max((float(sigma) - lo) / (hi - lo), 0.0), 1.0) if hi > lo else 1.0
        return torch.lerp(self.latents[upper - 1], self.latents[upper], weight)


def progress_callback(model, steps: int):
    """KSampler's live preview and progress bar, plus a cancel check every step."""
    preview = latent_preview.prepare_callback(model, steps)

    def callback(step, x0, x, total_steps):
        comfy.model_management.throw_exception_if_processing_interrupted()
        preview(step, x0, x, total_steps)

    return callback


def invert(model, samples: torch.Tensor, unconditional: list, sigmas: torch.Tensor) -> tuple[torch.Tensor, Trajectory]:
    """Deterministic (Euler = DDIM) inversion along the flipped schedule with the empty prompt and cfg 1.
    Returns x_T as a latent (the sampler's input space) and the internal-space trajectory."""
    flipped = sigmas.flip(0).clone()
    flipped[0] = max(float(flipped[0]), FLIPPED_START_SIGMA)
    guider = comfy.samplers.CFGGuider(model)
    guider.set_conds(unconditional, unconditional)
    guider.set_cfg(1.0)
    points: list[tuple[float, torch.Tensor]] = []
    preview = progress_callback(model, len(flipped) - 1)

    def record(step, x0, x, total_steps):
        points.append((float(flipped[step]), x.detach().clone()))
        preview(step, x0, x, total_steps)

    x_t = guider.sample(torch.zeros_like(samples), samples, comfy.samplers.sampler_object("euler"), flipped,
                        callback=record, disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=0)
    x_t = x_t.to(comfy.model_management.intermediate_device())
    internal = model.model.process_latent_in(x_t.to(points[0][1]))
    points.append((float(flipped[-1]), internal))
    return x_t, Trajectory([s for s, _ in points], [x for _, x in points])


@dataclass(frozen=True)
class Group:
    """B rows of a UNet call: which latent (image), which CFG branch, which prompt."""

    image: int
    branch: int
    prompt: str


ARTISTIC_COND = Group(ARTISTIC, COND, "artistic")
TWIN_COND = Group(TWIN, COND, "twin")
ARTISTIC_UNCOND = Group(ARTISTIC, UNCOND, "unconditional")
TWIN_UNCOND = Group(TWIN, UNCOND, "unconditional")
TWIN_NEGATIVE = Group(TWIN, UNCOND, "negative")


class TwinGuider(comfy.samplers.CFGGuider):
    """CFG for the batch [artistic ×B, twin ×B]. Artistic: u + cfg·(c − u). Twin: ẽ = α_i·u + (1−α_i)·n, then
    ẽ + twin_cfg·(c − ẽ). Each step is ONE UNet call on the groups it needs (twin_patches.py), the twin's negative
    prompt included; it is split by CFG branch only when memory is short. With a reference trajectory the
    artistic rows are put back on it before every call, so its features drive the twin."""

    def __init__(self, model, state: TwinState, cfg: float, twin_cfg: float, trajectory: Trajectory | None,
                 prompts: dict[str, torch.Tensor]):
        super().__init__(model)
        self.state, self.twin_cfg, self.trajectory, self.prompts = state, twin_cfg, trajectory, prompts
        self.uuids = {name: uuid.uuid4() for name in prompts}
        self.set_cfg(cfg)

    def groups_of_step(self, alpha: float, model_options: dict) -> list[Group]:
        """The groups a step needs: an unconditional prediction only where its guidance is not 1 (ComfyUI's cfg-1
        shortcut), the twin's negative only while α < 1; the artistic unconditional group is the source of the
        twin's unconditional-branch features, so it comes whenever any of them does."""
        cfg1_shortcut = not model_options.get("disable_cfg1_optimization", False)
        twin_base = not (cfg1_shortcut and math.isclose(self.twin_cfg, 1.0))
        twin = [group for group, needed in ((TWIN_UNCOND, alpha > 0.0), (TWIN_NEGATIVE, alpha < 1.0))
                if needed and twin_base]
        artistic_base = bool(twin) or not (cfg1_shortcut and math.isclose(self.cfg, 1.0))
        return [ARTISTIC_COND, TWIN_COND] + ([ARTISTIC_UNCOND] if artistic_base else []) + twin

    def unet(self, x: torch.Tensor, timestep: torch.Tensor, model_options: dict, groups: list[Group]) -> dict:
        """Denoised predictions per group: one call, or one per CFG branch when ComfyUI's memory estimate says
        the whole stack does not fit (as calc_cond_batch decides)."""
        batch = self.state.batch
        shape = [len(groups) * batch, *x.shape[1:]]
        free = comfy.model_management.get_free_memory(x.device)
        calls = [groups]
        if self.inner_model.memory_required(shape) * 1.5 >= free:
            calls = [[g for g in groups if g.branch == branch] for branch in (COND, UNCOND)]
        out = {}
        for call in filter(None, calls):
            inputs = torch.cat([x[:batch] if g.image == ARTISTIC else x[batch:] for g in call])
            steps = timestep[:batch].repeat(len(call))
            options = dict(model_options.get("transformer_options", {}))
            options.update(cond_or_uncond=[g.branch for g in call], uuids=[self.uuids[g.prompt] for g in call],
                           sigmas=timestep[:batch], **{IMAGES_KEY: [g.image for g in call]})
            # ComfyUI's own batching of prompts: different lengths are brought to a common one by repeating whole
            # prompts, which leaves attention unchanged.
            prompts = [comfy.conds.CONDCrossAttn(self.prompts[g.prompt]) for g in call]
            conds = {"c_crossattn": prompts[0].concat(prompts[1:]), "transformer_options": options}
            wrapper = model_options.get("model_function_wrapper")
            if wrapper is None:
                denoised = self.inner_model.apply_model(inputs, steps, **conds)
            else:
                denoised = wrapper(self.inner_model.apply_model, {"input": inputs, "timestep": steps, "c": conds,
                                                                  "cond_or_uncond": options["cond_or_uncond"]})
            out.update(zip(call, denoised.chunk(len(call)), strict=True))
        return out

    def predict_noise(self, x, timestep, model_options=None, seed=None):
        model_options = model_options or {}
        state, batch = self.state, self.state.batch
        state.step = step_index(model_options["transformer_options"]["sample_sigmas"], timestep[0])
        alphas = state.schedule.negative_alphas
        alpha = alphas[min(state.step, len(alphas) - 1)] if alphas else 1.0
        if self.trajectory is not None:
            x = torch.cat([self.trajectory.at(timestep[0]).to(x), x[batch:]])
        out = self.unet(x, timestep, model_options, self.groups_of_step(alpha, model_options))
        cond = out[ARTISTIC_COND]
        artistic = comfy.samplers.cfg_function(self.inner_model, cond, out.get(ARTISTIC_UNCOND, torch.zeros_like(cond)),
                                               self.cfg, x[:batch], timestep[:batch], model_options=model_options)
        cond = out[TWIN_COND]
        base = torch.zeros_like(cond)  # no baseline at guidance 1, as ComfyUI's cfg-1 shortcut
        if TWIN_UNCOND in out:
            base = base + alpha * out[TWIN_UNCOND]
        if TWIN_NEGATIVE in out:
            base = base + (1.0 - alpha) * out[TWIN_NEGATIVE]
        twin = comfy.samplers.cfg_function(self.inner_model, cond, base, self.twin_cfg, x[batch:],
                                           timestep[batch:], model_options=model_options)
        return torch.cat([artistic, twin])


class TwinSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        samplers, schedulers = comfy.samplers.KSampler.SAMPLERS, comfy.samplers.KSampler.SCHEDULERS
        return io.Schema(
            node_id="T2C_TwinSampler",
            display_name="Twin Sampler (artistic + realistic)",
            category=CATEGORY,
            description="Samples the artistic image and its realistic twin together from the same noise (SD1.x). "
                        "The twin borrows the artistic image's self-attention and features in the early steps, "
                        "so it has the same layout with realistic content, which segmentation and flow "
                        "prediction understand. Also averages the artistic image's attention for Region Mask. "
                        "Takes plain text conditionings (no ControlNet, areas or hooks).",
            inputs=[
                io.Model.Input("model", tooltip="An SD1.x model (SD1.4/1.5 or a fine-tune)."),
                io.Conditioning.Input("positive", tooltip="The artistic prompt (Twin Prompt → artistic)."),
                io.Conditioning.Input("twin_positive", tooltip="The realistic twin prompt (Twin Prompt → twin)."),
                io.Conditioning.Input("unconditional",
                                      tooltip="CLIPTextEncode of an EMPTY prompt: the CFG baseline of both "
                                              "images (official)."),
                io.Latent.Input("latent", tooltip="Empty Latent Image (512×512 as the official). Ignored "
                                                  "when a reference is connected."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True),
                io.Int.Input("steps", default=50, min=1, max=1000),
                io.Float.Input("cfg", default=5.0, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Guidance of the artistic image (official 5)."),
                io.Float.Input("twin_cfg", default=7.5, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Guidance of the twin (official 7.5)."),
                io.Combo.Input("sampler_name", options=samplers, default="ddim"),
                io.Combo.Input("scheduler", options=schedulers, default="ddim_uniform"),
                io.Float.Input("attention_injection", default=0.52, min=0.0, max=1.0, step=0.01,
                               tooltip="Share of the (noisiest) steps in which the twin uses the artistic "
                                       "self-attention (output blocks 4–11). 0.52 = 26 of 50 (official)."),
                io.Float.Input("feature_injection", default=0.82, min=0.0, max=1.0, step=0.01,
                               tooltip="Share of the steps in which the twin uses the artistic ResBlock features "
                                       "of output block 4. 0.82 = 41 of 50 (official)."),
                io.Float.Input("negative_alpha", default=0.75, min=0.0, max=1.0, step=0.01,
                               tooltip="Twin baseline = α·unconditional + (1−α)·negative, α falling linearly "
                                       "from this to 0 over the steps (official 0.75). 1 = no negative prompt "
                                       "(and no extra model evaluation)."),
                io.Conditioning.Input("negative", optional=True,
                                      tooltip="The twin's negative prompt. Not connected = the artistic prompt "
                                              "(official: steers the twin away from the painting style)."),
                io.String.Input("prompt", optional=True, multiline=True, default="",
                                tooltip="Optional: the artistic prompt TEXT (Twin Prompt → artistic), to label "
                                        "per-word attention maps for Region Mask's words mode. Empty = no "
                                        "word maps."),
                io.Latent.Input("reference", optional=True,
                                tooltip="Optional: an existing painting (VAE Encode). It is inverted and its "
                                        "features drive the twin; the artistic output is the painting itself."),
            ],
            outputs=[io.Latent.Output(display_name="artistic"), io.Latent.Output(display_name="twin"),
                     Attention.Output(display_name="attention")],
        )

    @classmethod
    def execute(cls, model, positive, twin_positive, unconditional, latent, seed, steps, cfg, twin_cfg,
                sampler_name, scheduler, attention_injection, feature_injection, negative_alpha, negative=None,
                prompt="", reference=None) -> io.NodeOutput:
        check_sd1(model)
        schedule = TwinSchedule.from_fractions(steps, attention_injection, feature_injection, negative_alpha)
        source = reference if reference is not None else latent
        samples = comfy.sample.fix_empty_latent_channels(model, source["samples"])
        if samples.ndim != 4 or samples.shape[1] != 4:
            raise ValueError(f"expected an SD1.x latent [B, 4, h, w], got {tuple(samples.shape)}")
        if "noise_mask" in source:
            log.warning("T2C_TwinSampler: the latent's noise mask is ignored (no inpainting in the twin sampler)")
        batch = samples.shape[0]
        context_dim = model.model.model_config.unet_config["context_dim"]
        prompts = {name: single_context(conditioning, label, context_dim) for name, conditioning, label in (
            ("artistic", positive, "positive"), ("twin", twin_positive, "twin_positive"),
            ("unconditional", unconditional, "unconditional"),
            ("negative", negative if negative is not None else positive, "negative"))}
        tokens = prompt_tokens(prompt, prompts["artistic"].shape[1]) if prompt and prompt.strip() else None
        state = TwinState(batch, schedule, AttentionRecorder(samples.shape[-2:], tokens))
        patched = patch_twin_model(model, state, cross_capture=tokens is not None)
        sigmas = comfy.samplers.KSampler(model, steps, model.load_device, sampler_name, scheduler, 1.0).sigmas
        try:
            if reference is not None:
                x_t, trajectory = invert(model, samples, unconditional, sigmas)
                noise, start = torch.zeros_like(x_t).repeat(2, 1, 1, 1), x_t.repeat(2, 1, 1, 1)
            else:
                trajectory = None
                once = comfy.sample.prepare_noise(samples, seed, source.get("batch_index"))
                noise, start = once.repeat(2, 1, 1, 1), samples.repeat(2, 1, 1, 1)
            guider = TwinGuider(patched, state, cfg, twin_cfg, trajectory,
                                {name: comfy.utils.repeat_to_batch_size(c, batch) for name, c in prompts.items()})
            guider.set_conds(positive, unconditional)  # for ComfyUI's memory estimate; the calls use `prompts`
            out = guider.sample(noise, start, comfy.samplers.sampler_object(sampler_name), sigmas,
                                callback=progress_callback(patched, len(sigmas) - 1),
                                disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
            capture = state.recorder.result()
        finally:
            state.close()
            patched.unpatch_model(unpatch_weights=False)  # restore the shared module's forward now, not at next load
        out = out.to(comfy.model_management.intermediate_device())
        artistic = dict(reference) if reference is not None else {**latent, "samples": out[:batch]}
        return io.NodeOutput(artistic, {**source, "samples": out[batch:]}, capture)
