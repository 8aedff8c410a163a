"""Region Mask's backends: where the coarse mask comes from, and the one procedure that turns it into the mask.

``mask`` (your own), ``cross-attention`` (the sampler's per-word maps), ``clip`` (CLIP-labelled proposals) and
``odise`` (open-vocabulary panoptic segmentation) give a coarse mask; with a ``T2C_ATTENTION`` capture it is then
refined to the attention clusters it covers (docs/pipeline.md#3-region-mask). ``auto`` picks the first that can run.
The models themselves are passed in (a CLIP embedder, an ODISE predictor), so this module loads nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..checks import InputValueError
from . import attention_mask, clip, odise
from .attention_capture import AttentionCapture

BACKENDS = ("auto", "cross-attention", "clip", "odise", "mask")
"""Region Mask's ``backend`` options; ``auto`` first."""


def choose_backend(backend: str, *, has_mask: bool, odise_available: bool, clip_available: Callable[[], bool],
                   has_cross_attention: bool) -> str:
    """Resolve ``auto``: a painted mask wins (the user said where), then ODISE, CLIP, the sampler's cross-attention.
    ``clip_available`` is asked only when it matters (it looks for weights on disk)."""
    if backend != "auto":
        return backend
    if has_mask:
        return "mask"
    if odise_available:
        return "odise"
    if clip_available():
        return "clip"
    if has_cross_attention:
        return "cross-attention"
    raise InputValueError("Region Mask (auto) has nothing to work with: connect a `mask` (e.g. painted in Load "
                          "Image's mask editor), the `attention` output of Twin Sampler, or put CLIP weights in "
                          "ComfyUI/models/text2cinemagraph/clip/")


def _coarse(backend: str, picture: torch.Tensor, words: str, capture: AttentionCapture | None, index: int,
            params: attention_mask.MaskParams, embedder: Callable[[], clip.ImageTextEmbedder] | None,
            predictor: Callable[[str], odise.Predictor] | None) -> tuple[torch.Tensor, list[str]]:
    """(coarse mask [H, W], warnings) from CLIP-labelled proposals or ODISE."""
    if backend == "clip":
        if capture is not None:
            proposals = attention_mask.split_segments(
                attention_mask.cluster_tokens(capture.self_attn[index], capture.grid, params))
        else:
            proposals = clip.image_proposals(picture)
        labelled = clip.label_regions(picture, proposals, words, embedder())
        return labelled.mask, labelled.warnings
    if backend == "odise":
        odise.require()
        found = odise.odise_mask(predictor(words), picture)
        return found.mask, found.warnings
    raise InputValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def region_mask(picture: torch.Tensor, words: str, backend: str, capture: AttentionCapture | None,
                user_mask: torch.Tensor | None, index: int, params: attention_mask.MaskParams, *,
                embedder: Callable[[], clip.ImageTextEmbedder] | None = None,
                predictor: Callable[[str], odise.Predictor] | None = None) -> attention_mask.RegionMaskResult:
    """One image [3, H, W] → its region mask with a resolved ``backend``. ``embedder()`` gives the CLIP model and
    ``predictor(words)`` the ODISE predictor, each asked for only when its backend runs."""
    size = tuple(picture.shape[-2:])
    if backend == "mask":
        if user_mask is None:
            raise InputValueError("backend 'mask' needs the `mask` input (e.g. painted in Load Image's mask editor)")
        return attention_mask.refine_external_mask(user_mask, capture, params, batch_index=index, image_size=size)
    if backend == "cross-attention":
        if capture is None:
            raise InputValueError("backend 'cross-attention' needs the `attention` output of Twin Sampler")
        return attention_mask.mask_from_words(capture, words, params, batch_index=index, image_size=size)
    coarse, warnings = _coarse(backend, picture, words, capture, index, params, embedder, predictor)
    if capture is not None:
        result = attention_mask.mask_from_attention(capture, coarse, params, batch_index=index, image_size=size)
    else:
        result = attention_mask.RegionMaskResult(
            attention_mask.erode_mask(coarse, params.erosion_ksize, params.erosion_iter))
    result.warnings = warnings + result.warnings
    return result
