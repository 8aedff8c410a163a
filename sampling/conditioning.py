"""What the twin sampler checks of ComfyUI's model and conditionings: an SD1.x model, and the prompt's CLIP token
strings for per-word attention maps (the embeddings of one prompt each: :mod:`models.prompt.conditioning`)."""

from __future__ import annotations

import functools

import comfy.sd1_clip
import comfy.supported_models

from ..models.checks import InputTypeError, InputValueError


def check_sd1(model) -> None:
    """SD1.x only: the block numbers of the injection and the capture are those of the SD1 UNet."""
    config = getattr(getattr(model, "model", None), "model_config", None)
    if not isinstance(config, comfy.supported_models.SD15) or config.unet_config.get("in_channels", 4) != 4:
        name = type(config).__name__ if config is not None else type(model).__name__
        raise InputTypeError(f"T2C_TwinSampler supports Stable Diffusion 1.x models (SD1.4, SD1.5 and their "
                         f"fine-tunes); this model is {name}. Load an SD1.x checkpoint.")


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
