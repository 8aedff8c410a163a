"""T2C_RegionMask: the moving region, from attention clusters and an open-vocabulary coarse mask."""

from __future__ import annotations

import functools
import logging
import os

import comfy.model_management
import torch
from comfy_api.latest import io

from ..models.region import attention_mask
from ..models.region import clip as region_clip
from ..models.region import odise as region_odise
from ..models.region.attention_capture import AttentionCapture
from .paths import model_dirs
from .types import CATEGORY, Attention, bchw_to_image, image_to_bchw, mask_to_b1hw

log = logging.getLogger(__name__)

DEFAULT_WORDS = "water, waterfall, river, ocean, lake, sea"
BACKENDS = ["auto", "cross-attention", "clip", "odise", "mask"]
CLIP_MODELS = ["ViT-B-32", "ViT-B-16", "ViT-L-14"]


def _clip_source(model_name: str) -> tuple[str, list[str]]:
    """The pretrained tag of ``model_name`` and the folders its weights are looked for in."""
    if model_name == region_clip.DEFAULT_MODEL:
        tag = region_clip.DEFAULT_TAG
    else:
        import open_clip

        tags = open_clip.list_pretrained_tags_by_model(model_name)
        tag = ([t for t in tags if t.startswith("laion2b")] or tags)[0]
    return tag, [os.path.join(d, "clip") for d in model_dirs()] + model_dirs()


@functools.lru_cache(maxsize=1)
def _clip(model_name: str) -> region_clip.OpenClipEmbedder:
    tag, search = _clip_source(model_name)
    return region_clip.load_clip(model_name, tag, search_dirs=search,
                                 device=comfy.model_management.get_torch_device())


def _clip_available(model_name: str) -> bool:
    tag, search = _clip_source(model_name)
    return region_clip.find_clip_weights(model_name, tag, search) is not None


def choose_backend(backend: str, attention: AttentionCapture | None, mask, clip_model: str) -> str:
    """Resolve ``auto``: a painted mask wins (the user said where), then ODISE, CLIP, the sampler's cross-attention."""
    if backend != "auto":
        return backend
    if mask is not None:
        return "mask"
    if region_odise.available():
        return "odise"
    if _clip_available(clip_model):
        return "clip"
    if attention is not None and attention.cross_attn is not None:
        return "cross-attention"
    raise ValueError("Region Mask (auto) has nothing to work with: connect a `mask` (e.g. painted in Load Image's "
                     "mask editor), the `attention` output of Twin Sampler, or put CLIP weights in "
                     "ComfyUI/models/text2cinemagraph/clip/")


def _coarse_from_backend(backend, picture, words, capture, index, clip_model, params):
    """(coarse mask [H, W], warnings) from CLIP-labelled proposals or ODISE."""
    if backend == "clip":
        if capture is not None:
            proposals = attention_mask.split_segments(
                attention_mask.cluster_tokens(capture.self_attn[index], capture.grid, params))
        else:
            proposals = region_clip.image_proposals(picture)
        labelled = region_clip.label_regions(picture, proposals, words, _clip(clip_model))
        return labelled.mask, labelled.warnings
    if backend == "odise":
        region_odise.require()
        found = region_odise.odise_mask(region_odise.build_predictor(words), picture)
        return found.mask, found.warnings
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def region_mask(picture, words, backend, capture, user_mask, index, clip_model, params):
    """One image [3, H, W] → RegionMaskResult."""
    size = tuple(picture.shape[-2:])
    if backend == "mask":
        if user_mask is None:
            raise ValueError("backend 'mask' needs the `mask` input (e.g. painted in Load Image's mask editor)")
        return attention_mask.refine_external_mask(user_mask, capture, params, batch_index=index, image_size=size)
    if backend == "cross-attention":
        if capture is None:
            raise ValueError("backend 'cross-attention' needs the `attention` output of Twin Sampler")
        return attention_mask.mask_from_words(capture, words, params, batch_index=index, image_size=size)
    coarse, warnings = _coarse_from_backend(backend, picture, words, capture, index, clip_model, params)
    if capture is not None:
        result = attention_mask.mask_from_attention(capture, coarse, params, batch_index=index, image_size=size)
    else:
        result = attention_mask.RegionMaskResult(
            attention_mask.erode_mask(coarse, params.erosion_ksize, params.erosion_iter))
    result.warnings = warnings + result.warnings
    return result


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
                io.Combo.Input("backend", options=BACKENDS, default="auto",
                               tooltip="auto: your mask if connected, else ODISE if installed, else CLIP if its "
                                       "weights are in models/text2cinemagraph/clip/, else the sampler's "
                                       "cross-attention."),
                io.Int.Input("n_clusters", default=5, min=2, max=64,
                             tooltip="Attention clusters (official: 5; 10 for the directional config)."),
                io.Combo.Input("cluster_type", options=["spectral", "kmeans"], default="spectral"),
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
                io.Combo.Input("clip_model", options=CLIP_MODELS, default=region_clip.DEFAULT_MODEL, optional=True),
            ],
            outputs=[io.Mask.Output(display_name="mask"), io.Image.Output(display_name="preview"),
                     io.String.Output(display_name="info")],
        )

    @classmethod
    def validate_inputs(cls, words=None, **_) -> bool | str:
        if isinstance(words, str) and not words.strip(" ,;"):
            return "words is empty: name what should move, e.g. 'water, waterfall'"
        return True

    @classmethod
    def execute(cls, image, words, backend, n_clusters, cluster_type, threshold, erosion_ksize, erosion_iterations,
                attention=None, mask=None, clip_model=region_clip.DEFAULT_MODEL) -> io.NodeOutput:
        pictures = image_to_bchw(image)
        masks = None if mask is None else mask_to_b1hw(mask)[:, 0]
        params = attention_mask.MaskParams(n_clusters=n_clusters, method=cluster_type, threshold=threshold,
                                           erosion_ksize=erosion_ksize, erosion_iter=erosion_iterations)
        chosen = choose_backend(backend, attention, mask, clip_model)
        results, previews, notes = [], [], [f"backend: {chosen}" + (" (auto)" if backend == "auto" else "")]
        for b, picture in enumerate(pictures):
            index = min(b, attention.batch_size - 1) if attention is not None else 0
            user_mask = None if masks is None else masks[min(b, len(masks) - 1)]
            result = region_mask(picture, words, chosen, attention, user_mask, index, clip_model, params)
            results.append(result.mask)
            previews.append(attention_mask.preview_overlay(picture, result.segments, result.mask))
            notes += result.warnings
            if not result.mask.any():
                notes.append(f"image {b}: the mask is empty, so Animate will make a still loop")
        for note in notes[1:]:
            log.warning("T2C_RegionMask: %s", note)
        return io.NodeOutput(torch.stack(results), bchw_to_image(torch.stack(previews)), "\n".join(notes))
