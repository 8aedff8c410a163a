"""Inverting an existing painting for the twin sampler: a deterministic DDIM (Euler) inversion along the flipped
schedule, whose trajectory then drives the artistic rows (docs/pipeline.md#2-twin-sampler)."""

from __future__ import annotations

import comfy.model_management
import comfy.samplers
import comfy.utils
import latent_preview
import torch

FLIPPED_START_SIGMA = 1e-4
"""An inversion cannot start at σ = 0 (the step divides by σ); ComfyUI's FlipSigmas uses the same value."""


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
