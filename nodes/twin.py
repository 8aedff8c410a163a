"""T2C_TwinPrompt and T2C_TwinSampler: the artistic image and its realistic twin in one sampling pass.

The sampling machinery (guider, patches, inversion, schedule) lives in ``sampling/``. The twin
(docs/pipeline.md#2-twin-sampler) is a second image from the *same* initial noise whose self-attention q/k (output
blocks 4–11) and output-block-4 ResBlock residual are the artistic image's during the first steps, so it keeps
the painting's layout with realistic content — what segmentation and flow prediction need. Both images are
sampled as one batch [artistic, twin]; the artistic one is bit-for-bit what a plain sampler would give (up to
batching round-off). The artistic image's attention is averaged along the way for the mask node
(docs/pipeline.md#3-region-mask).
"""

from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io

from ..models.prompt.twin_prompt import split_prompt
from ..sampling.schedule import STEPLESS_SAMPLERS
from ..sampling.twin_sampler import sample_twins
from .types import CATEGORY, Attention
from .validation import check_choices


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


class TwinSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        samplers = [name for name in comfy.samplers.KSampler.SAMPLERS if name not in STEPLESS_SAMPLERS]
        schedulers = comfy.samplers.KSampler.SCHEDULERS
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
        check_choices(cls, sampler_name=sampler_name, scheduler=scheduler)
        return io.NodeOutput(*sample_twins(
            model, positive, twin_positive, unconditional, latent, seed, steps, cfg, twin_cfg, sampler_name,
            scheduler, attention_injection, feature_injection, negative_alpha, negative=negative, prompt=prompt,
            reference=reference))
