"""What the stages that read a prompt's tokens take from a ComfyUI CONDITIONING: the embeddings of one prompt.

A CONDITIONING is a list of ``[embeddings [B, 77·k, dim], options]`` pairs: CLIPTextEncode gives one pair (a long
prompt is padded to k chunks of 77 tokens), Conditioning Combine appends more. The text flow network and the twin
sampler read only the embeddings, so both take exactly one pair and refuse the options they would otherwise drop
silently.
"""

from __future__ import annotations

import torch

from ..checks import InputShapeError, InputTypeError, InputValueError

CLIP_CHUNK = 77
"""Tokens of one CLIP chunk: CLIPTextEncode pads every chunk of a prompt to this many."""

UNSUPPORTED_OPTIONS = {"control": "ControlNet", "hooks": "hooks", "area": "areas", "mask": "masks",
                       "gligen": "GLIGEN"}
"""Conditioning extras that a reader of the embeddings alone does not apply: refused rather than silently dropped."""


def prompt_embeddings(conditioning: object, name: str, context_dim: int, reader: str) -> torch.Tensor:
    """The [B, 77·k, ``context_dim``] embeddings of a one-prompt CONDITIONING, or an error naming the input
    (``name``) and the node or network that reads it (``reader``)."""
    if not isinstance(conditioning, list) or not conditioning:
        raise InputValueError(f"{name} is empty: connect a CLIPTextEncode (SD1.x CLIP) with your prompt")
    if len(conditioning) != 1:
        raise InputValueError(f"{name} holds {len(conditioning)} combined conditionings; {reader} needs one prompt "
                              "per input (use one CLIPTextEncode, or ConditioningConcat instead of Combine)")
    entry = conditioning[0]
    if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[1], dict)):
        raise InputTypeError(f"{name} is not a CONDITIONING ([[embeddings, options]]): connect a CLIPTextEncode")
    context, options = entry
    if (not isinstance(context, torch.Tensor) or context.ndim != 3 or context.shape[-1] != context_dim
            or context.shape[1] == 0 or context.shape[1] % CLIP_CHUNK):
        shape = list(context.shape) if isinstance(context, torch.Tensor) else type(context).__name__
        raise InputShapeError(f"{name} must be SD1.x text embeddings [B, 77·k, {context_dim}], got {shape}: encode "
                              "the prompt with an SD1.x checkpoint's CLIP")
    extras = [label for key, label in UNSUPPORTED_OPTIONS.items() if options.get(key) is not None]
    if extras:
        raise InputValueError(f"{name} carries {', '.join(extras)}, which {reader} does not apply (it reads only the "
                              "prompt's embeddings): connect the plain CLIPTextEncode output")
    return context
