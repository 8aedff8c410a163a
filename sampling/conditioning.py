"""What the twin sampler takes from ComfyUI's conditionings: SD1.x text embeddings of one prompt each, and the
prompt's CLIP token strings for per-word attention maps."""

from __future__ import annotations

import functools

import comfy.sd1_clip
import comfy.supported_models
import torch

from ..models.checks import InputShapeError, InputTypeError, InputValueError


def check_sd1(model) -> None:
    """SD1.x only: the block numbers of the injection and the capture are those of the SD1 UNet."""
    config = getattr(getattr(model, "model", None), "model_config", None)
    if not isinstance(config, comfy.supported_models.SD15) or config.unet_config.get("in_channels", 4) != 4:
        name = type(config).__name__ if config is not None else type(model).__name__
        raise InputTypeError(f"T2C_TwinSampler supports Stable Diffusion 1.x models (SD1.4, SD1.5 and their "
                         f"fine-tunes); this model is {name}. Load an SD1.x checkpoint.")


UNSUPPORTED_OPTIONS = {"control": "ControlNet", "hooks": "hooks", "area": "areas", "mask": "masks",
                       "gligen": "GLIGEN"}
"""Conditioning extras the twin sampler's own UNet calls do not apply: refused rather than silently dropped."""


def single_context(conditioning, name: str, context_dim: int) -> torch.Tensor:
    """The [1, tokens, dim] embeddings of a one-prompt CONDITIONING, or a clear error."""
    if not isinstance(conditioning, list) or not conditioning:
        raise InputValueError(f"{name} is empty: connect a CLIPTextEncode")
    if len(conditioning) != 1:
        raise InputValueError(f"{name} holds {len(conditioning)} combined conditionings; T2C_TwinSampler needs one "
                              "prompt per input (use one CLIPTextEncode, or ConditioningConcat instead of Combine)")
    context, options = conditioning[0]
    if not isinstance(context, torch.Tensor) or context.ndim != 3 or context.shape[-1] != context_dim:
        shape = tuple(context.shape) if isinstance(context, torch.Tensor) else type(context).__name__
        raise InputShapeError(f"{name} must be SD1.x text embeddings [1, 77·k, {context_dim}], got {shape}: encode "
                              "it with the same checkpoint's CLIP")
    extras = [label for key, label in UNSUPPORTED_OPTIONS.items() if options.get(key) is not None]
    if extras:
        raise InputValueError(f"{name} carries {', '.join(extras)}, which T2C_TwinSampler does not apply (the twin "
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
        raise InputValueError(f"prompt gives {len(tokens)} tokens but the positive conditioning has {length}: connect "
                              "the same text that the artistic CLIPTextEncode encodes (or leave prompt empty)")
    return tokens
