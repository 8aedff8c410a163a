"""A tiny SD1.x model built through ComfyUI's own classes: the SD1.5 block layout with few channels, random weights.

ComfyUI's layers skip weight initialisation (the weights normally come from a checkpoint), so the weights are
drawn here from a seeded generator. Used by the in-process twin sampler tests and the benchmark.
"""

from __future__ import annotations

import math

import comfy.model_management
import comfy.model_patcher
import comfy.supported_models
import torch

SD15_UNET = {
    "use_checkpoint": False, "image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 320,
    "num_res_blocks": [2, 2, 2, 2], "channel_mult": [1, 2, 4, 4], "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
    "transformer_depth_middle": 1, "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "use_spatial_transformer": True, "legacy": False, "adm_in_channels": None, "use_linear_in_transformer": False,
    "context_dim": 768, "use_temporal_attention": False, "use_temporal_resblock": False,
}
"""ComfyUI's SD1.5 UNet configuration (``comfy/model_detection.py``); the heads come from the SD15 class."""

TINY_CHANNELS, TINY_CONTEXT = 32, 64


def randomise_(module: torch.nn.Module, seed: int) -> None:
    """Seeded weights with a fan-in scale, so activations stay O(1) through the whole UNet."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith("bias"):
                param.copy_(0.02 * torch.randn(param.shape, generator=gen))
            elif param.ndim == 1:  # norm scales
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=gen))
            else:
                fan_in = math.prod(param.shape[1:])
                param.copy_(torch.randn(param.shape, generator=gen) / math.sqrt(fan_in))


def sd15_patcher(model_channels: int = TINY_CHANNELS, context_dim: int = TINY_CONTEXT, seed: int = 0,
                 dtype: torch.dtype = torch.float32) -> comfy.model_patcher.ModelPatcher:
    """A ModelPatcher around an SD15 ``BaseModel`` (SD1.5 layout; ``model_channels`` 320 is the real size)."""
    unet = dict(SD15_UNET, model_channels=model_channels, context_dim=context_dim, dtype=dtype)
    config = comfy.supported_models.SD15(unet)
    config.set_inference_dtype(dtype, None)
    device = comfy.model_management.get_torch_device()
    model = config.get_model({}, device=device)
    randomise_(model.diffusion_model, seed)
    model.diffusion_model.to(dtype)
    return comfy.model_patcher.ModelPatcher(model, load_device=device,
                                            offload_device=comfy.model_management.unet_offload_device())


def conditioning(seed: int, context_dim: int = TINY_CONTEXT, tokens: int = 77) -> list:
    """A CONDITIONING like CLIPTextEncode's: [[context [1, tokens, dim], {}]] with seeded random embeddings."""
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(1, tokens, context_dim, generator=gen), {}]]
