"""T2C_RegionMask: the moving region, from attention clusters and an open-vocabulary coarse mask."""

from __future__ import annotations

import logging
import os

import torch
from comfy_api.latest import io

from ..models.checks import InputShapeError, check_mask, check_number
from ..models.region import attention_mask, backends, clip, odise
from ..models.region.words import DEFAULT_WORDS
from .holders import ModelCache
from .paths import model_dirs
from .types import CATEGORY, Attention, bchw_to_image, image_to_bchw
from .validation import check_choices

log = logging.getLogger(__name__)


def _clip_folders() -> list[str]:
    """Where Region Mask looks for CLIP weights: ComfyUI/models/text2cinemagraph/clip/, then the folder itself."""
    return [os.path.join(d, "clip") for d in model_dirs()] + model_dirs()


def _load_clip(model_name: str) -> tuple[clip.OpenClipEmbedder, torch.nn.Module]:
    embedder = clip.load_clip(model_name, clip.pretrained_tag(model_name), search_dirs=_clip_folders())
    return embedder, embedder.model


def _load_odise() -> tuple[odise.OdiseModel, torch.nn.Module]:
    loaded = odise.load_odise(device="cpu")
    return loaded, loaded.module


_clip = ModelCache(_load_clip)
"""CLIP, loaded once per model name and managed by ComfyUI (offloaded when memory is needed)."""
_odise = ModelCache(_load_odise)
"""The ODISE network, loaded once; each run wraps it for its own vocabulary."""


def _clip_available(model_name: str) -> bool:
    return clip.find_clip_weights(model_name, clip.pretrained_tag(model_name), _clip_folders()) is not None


class RegionMask(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="T2C_RegionMask",
            display_name="Region Mask",
            category=CATEGORY,
            description="Finds the region that should move (water, clouds, smoke …): a coarse mask from the "
                        "words (cross-attention of Twin Sampler, CLIP, ODISE) or your own mask, refined by "
                        "clustering the sampler's self-attention, as in the paper.",
            inputs=[
                io.Image.Input("image", tooltip="The realistic twin (or the painting)."),
                io.String.Input("words", default=DEFAULT_WORDS,
                                tooltip="What moves, comma-separated (synonyms of one class)."),
                io.Combo.Input("backend", options=list(backends.BACKENDS), default="auto",
                               tooltip="auto: your mask if connected, else ODISE if installed, else CLIP if its "
                                       "weights are in models/text2cinemagraph/clip/, else the sampler's "
                                       "cross-attention."),
                io.Int.Input("n_clusters", default=5, min=2, max=64,
                             tooltip="Attention clusters (official: 5; 10 for the directional config)."),
                io.Combo.Input("cluster_type", options=list(attention_mask.CLUSTER_METHODS),
                               default=attention_mask.CLUSTER_METHODS[0]),
                io.Float.Input("threshold", default=0.7, min=0.0, max=1.0, step=0.05,
                               tooltip="Keep a segment when at least this fraction of it lies in the coarse mask."),
                io.Int.Input("erosion_ksize", default=5, min=1, max=63, step=2,
                             tooltip="Erosion kernel side in output pixels (odd). The official 5 is meant for 512² "
                                     "images: scale it with the image size."),
                io.Int.Input("erosion_iterations", default=0, min=0, max=20,
                             tooltip="Erosion passes; 0 keeps the mask as selected (official default)."),
                Attention.Input("attention", optional=True,
                                tooltip="Attention captured by Twin Sampler; refines the mask to its clusters."),
                io.Mask.Input("mask", optional=True,
                              tooltip="Your own mask (mask editor or any segmentation node); refined by the "
                                      "attention clusters when attention is connected, else passed through."),
                io.Combo.Input("clip_model", options=list(clip.CLIP_MODELS), default=clip.DEFAULT_MODEL, optional=True),
            ],
            outputs=[io.Mask.Output(display_name="mask"), io.Image.Output(display_name="preview"),
                     io.String.Output(display_name="info")],
        )

    @classmethod
    def validate_inputs(cls, words=None) -> bool | str:
        # Names only `words`: ComfyUI keeps its own min/max checks for every other input (nodes/validation.py).
        if isinstance(words, str) and not words.strip(" ,;"):
            return "words is empty: name what should move, e.g. 'water, waterfall'"
        return True

    @classmethod
    def execute(cls, image, words, backend, n_clusters, cluster_type, threshold, erosion_ksize, erosion_iterations,
                attention=None, mask=None, clip_model=clip.DEFAULT_MODEL) -> io.NodeOutput:
        check_choices(cls, backend=backend, cluster_type=cluster_type, clip_model=clip_model)
        check_number(threshold, "Region Mask `threshold`")  # NaN passes ComfyUI's min/max
        pictures = image_to_bchw(image, "Region Mask `image`")
        masks = None if mask is None else check_mask(mask, "Region Mask `mask`")[:, 0]
        if masks is not None and len(masks) not in (1, len(pictures)):
            raise InputShapeError(f"Region Mask: {len(masks)} masks for {len(pictures)} images in `image`: give one "
                                  "`mask` for every image, or a single mask for all of them")
        params = attention_mask.MaskParams(n_clusters=n_clusters, method=cluster_type, threshold=threshold,
                                           erosion_ksize=erosion_ksize, erosion_iter=erosion_iterations)
        chosen = backends.choose_backend(
            backend, has_mask=mask is not None, odise_available=odise.available(),
            clip_available=lambda: _clip_available(clip_model),
            has_cross_attention=attention is not None and attention.cross_attn is not None)
        results, previews, notes = [], [], [f"backend: {chosen}" + (" (auto)" if backend == "auto" else "")]
        for b, picture in enumerate(pictures):
            index = min(b, attention.batch_size - 1) if attention is not None else 0
            user_mask = None if masks is None else masks[min(b, len(masks) - 1)]
            result = backends.region_mask(picture, words, chosen, attention, user_mask, index, params,
                                          embedder=lambda: _clip(clip_model),
                                          predictor=lambda vocabulary: odise.odise_predictor(_odise(), vocabulary))
            results.append(result.mask)
            previews.append(attention_mask.preview_overlay(picture, result.segments, result.mask))
            notes += result.warnings
            if not result.mask.any():
                notes.append(f"image {b}: the mask is empty, so Animate will make a still loop")
        for note in notes[1:]:
            log.warning("T2C_RegionMask: %s", note)
        return io.NodeOutput(torch.stack(results), bchw_to_image(torch.stack(previews)), "\n".join(notes))
