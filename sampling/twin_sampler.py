"""The twin sampler itself: the artistic image and its realistic twin sampled as one batch from the same noise (or
from an inverted painting), with the twin patches installed on a clone of the model and the artistic image's
attention averaged along the way (docs/pipeline.md#2-twin-sampler). T2C_TwinSampler (nodes/twin.py) only
declares the inputs and hands them here.
"""

from __future__ import annotations

import logging

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import torch

from ..models.checks import InputShapeError, check_number
from ..models.prompt.conditioning import prompt_embeddings
from ..models.region.attention_capture import AttentionCapture
from .conditioning import check_sd1, prompt_tokens
from .inversion import invert, progress_callback
from .schedule import TwinSchedule
from .twin_guider import TwinGuider
from .twin_patches import AttentionRecorder, TwinState, patch_twin_model

log = logging.getLogger(__name__)


def sample_twins(model, positive, twin_positive, unconditional, latent, seed, steps, cfg, twin_cfg, sampler_name,
                 scheduler, attention_injection, feature_injection, negative_alpha, negative=None, prompt="",
                 reference=None) -> tuple[dict, dict, AttentionCapture]:
    """(artistic LATENT, twin LATENT, attention capture) for T2C_TwinSampler's inputs (same names and meanings)."""
    for name, value in (("cfg", cfg), ("twin_cfg", twin_cfg)):  # NaN passes ComfyUI's min/max checks
        check_number(value, f"Twin Sampler `{name}`", minimum=0.0, expected="a finite guidance scale (e.g. 5 or 7.5)")
    check_sd1(model)
    schedule = TwinSchedule.from_fractions(steps, attention_injection, feature_injection, negative_alpha)
    source = reference if reference is not None else latent
    samples = comfy.sample.fix_empty_latent_channels(model, source["samples"])
    if samples.ndim != 4 or samples.shape[1] != 4:
        raise InputShapeError(f"expected an SD1.x latent [B, 4, h, w], got {tuple(samples.shape)}")
    if "noise_mask" in source:
        log.warning("T2C_TwinSampler: the latent's noise mask is ignored (no inpainting in the twin sampler)")
    batch = samples.shape[0]
    context_dim = model.model.model_config.unet_config["context_dim"]
    prompts = {name: prompt_embeddings(conditioning, label, context_dim, "T2C_TwinSampler")
               for name, conditioning, label in (
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
    return artistic, {**source, "samples": out[batch:]}, capture
