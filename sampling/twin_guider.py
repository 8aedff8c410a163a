"""The twin sampler's CFG guider: one UNet call per step on the groups of rows it needs, the artistic image with
its own guidance, the twin with its (negative-prompt-blended) baseline (docs/pipeline.md#2-twin-sampler)."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

import comfy.conds
import comfy.model_management
import comfy.samplers
import torch

from .inversion import Trajectory
from .schedule import step_index
from .twin_patches import ARTISTIC, COND, IMAGES_KEY, TWIN, UNCOND, TwinState


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
