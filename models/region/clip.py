"""Zero-shot labelling of region proposals with open_clip: a light replacement for ODISE's coarse mask.

Each proposal (attention segments when a capture exists, else colour superpixels of the image) is cropped to its
box, the rest of the box is filled with the image's mean colour, and the crop is scored by CLIP against the user's
words (the positives) and a background vocabulary. Decision, per proposal, on the softmax over all classes:
kept when a positive class wins, or when the positives together reach ``threshold`` (synonyms such as "water",
"river" split the probability between them, so the sum matters). The mask is the union of kept proposals.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch
from PIL import Image
from scipy import ndimage
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from ..checks import InputShapeError, InputValueError, check_number
from .attention_mask import region_image, split_segments, upsample_labels, word_stem
from .words import parse_phrases

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_TAG = "laion2b_s34b_b79k"
CLIP_MODELS = ("ViT-B-32", "ViT-B-16", "ViT-L-14")
"""The open_clip models Region Mask offers (``clip_model``); the first is the default."""
DEFAULT_BACKGROUND = (
    "sky", "cloud", "tree", "grass", "mountain", "hill", "rock", "building", "house", "person", "road", "sand",
    "field", "forest", "snow", "wall", "ground", "bush", "flower", "animal",
)
PROMPT_TEMPLATES = ("a photo of {}.", "a painting of {}.", "a close-up photo of the {}.")


class ImageTextEmbedder(Protocol):
    """What the labelling needs from a CLIP model; tests inject a stand-in whose scores they control."""

    logit_scale: float

    def embed_images(self, crops: list[torch.Tensor]) -> torch.Tensor:
        """[3, h, w] crops in 0..1 (any sizes) → L2-normalised embeddings [P, D]."""
        ...

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """Strings → L2-normalised embeddings [T, D]."""
        ...


class OpenClipEmbedder:
    """An open_clip model + its eval preprocess + tokenizer, batched and without gradients."""

    def __init__(self, model: torch.nn.Module, preprocess: Callable[[Image.Image], torch.Tensor],
                 tokenizer: Callable[[list[str]], torch.Tensor], batch_size: int = 32,
                 weights: Path | None = None) -> None:
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.weights = weights
        self.logit_scale = float(model.logit_scale.detach().exp()) if hasattr(model, "logit_scale") else 100.0

    @property
    def device(self) -> torch.device:
        """Where the model is now (a model manager may move it between calls)."""
        return next(self.model.parameters()).device

    @torch.no_grad()
    def embed_images(self, crops: list[torch.Tensor]) -> torch.Tensor:
        pil = [Image.fromarray((c.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()) for c in crops]
        chunks = []
        for start in range(0, len(pil), self.batch_size):
            batch = torch.stack([self.preprocess(p) for p in pil[start:start + self.batch_size]]).to(self.device)
            chunks.append(self.model.encode_image(batch).float())
        return torch.nn.functional.normalize(torch.cat(chunks), dim=-1).cpu()

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        embedded = self.model.encode_text(self.tokenizer(texts).to(self.device)).float()
        return torch.nn.functional.normalize(embedded, dim=-1).cpu()


# --------------------------------------------------------------------------------------------- weights


def clip_weight_names(model_name: str, pretrained_tag: str) -> list[str]:
    """File names accepted for a model's weights, most specific first."""
    stem = f"{model_name}-{pretrained_tag}"
    return [f"{stem}.safetensors", f"{stem}.bin", "open_clip_model.safetensors", "open_clip_pytorch_model.bin"]


def _open_clip_cache(model_name: str, pretrained_tag: str) -> Path | None:
    """The weights if open_clip already downloaded them (HF hub cache or ~/.cache/clip); never downloads."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model_name, pretrained_tag)
    repo_id, file_name = os.path.split(cfg.get("hf_hub", ""))  # "org/repo/" or "org/repo/file.bin"
    if repo_id:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        for name in [file_name] if file_name else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]:
            found = try_to_load_from_cache(repo_id, name)
            if isinstance(found, str) and os.path.isfile(found):
                return Path(found)
    url = cfg.get("url", "")
    cached = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url) if url else None
    return cached if cached is not None and cached.is_file() else None


def pretrained_tag(model_name: str) -> str:
    """The open_clip weights tag used for ``model_name``: the default's, else its first LAION-2B tag."""
    if model_name == DEFAULT_MODEL:
        return DEFAULT_TAG
    import open_clip

    tags = open_clip.list_pretrained_tags_by_model(model_name)
    return ([t for t in tags if t.startswith("laion2b")] or tags)[0]


def find_clip_weights(model_name: str = DEFAULT_MODEL, pretrained_tag: str = DEFAULT_TAG,
                      search_dirs: Sequence[str | os.PathLike] = ()) -> Path | None:
    """First weights file found in ``search_dirs`` (see :func:`clip_weight_names`), else in open_clip's cache."""
    for folder in search_dirs:
        for name in clip_weight_names(model_name, pretrained_tag):
            candidate = Path(folder) / name
            if candidate.is_file():
                return candidate
    return _open_clip_cache(model_name, pretrained_tag)


def load_clip(model_name: str = DEFAULT_MODEL, pretrained_tag: str = DEFAULT_TAG, weights_path: str | None = None,
              search_dirs: Sequence[str | os.PathLike] = (), device: str | torch.device = "cpu") -> OpenClipEmbedder:
    """Create the open_clip model from a local weights file; never downloads.

    ``weights_path`` wins; otherwise ``search_dirs`` (the node passes ComfyUI's models/text2cinemagraph/clip
    folders) then open_clip's own cache are searched. The tag decides preprocessing and QuickGELU.
    """
    import open_clip

    tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained_tag)
    if not tag_cfg:
        raise InputValueError(f"unknown open_clip model/tag {model_name}/{pretrained_tag}; "
                              f"known tags: {open_clip.list_pretrained_tags_by_model(model_name)}")
    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(f"CLIP weights file not found: {path}")
    else:
        path = find_clip_weights(model_name, pretrained_tag, search_dirs)
        if path is None:
            where = ", ".join(str(d) for d in search_dirs) or "(no folder given)"
            raise FileNotFoundError(
                f"no weights for CLIP {model_name} ({pretrained_tag}): looked for "
                f"{' / '.join(clip_weight_names(model_name, pretrained_tag))} in {where} and in open_clip's cache. "
                f"Put open_clip_pytorch_model.bin from the Hugging Face repo {tag_cfg.get('hf_hub', '').rstrip('/')} "
                "in ComfyUI/models/text2cinemagraph/clip/ (or name it "
                f"{clip_weight_names(model_name, pretrained_tag)[1]}).")
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            model_name, pretrained=str(path), device=device, force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
            image_mean=tag_cfg.get("mean"), image_std=tag_cfg.get("std"),
            image_interpolation=tag_cfg.get("interpolation"), image_resize_mode=tag_cfg.get("resize_mode"))
    except pickle.UnpicklingError:  # torch's own message advises weights_only=False: never do that here
        raise InputValueError(f"Region Mask: the CLIP weights file {path} pickles objects other than tensors, so it "
                              "was refused before any of its code could run; use the open_clip_pytorch_model.bin "
                              "or .safetensors file from the model's Hugging Face repository") from None
    except RuntimeError as error:
        raise InputValueError(f"{path} does not hold open_clip {model_name} weights ({error}); "
                              "check the model name or rename the file") from error
    except Exception as error:  # a truncated or corrupt file (e.g. safetensors' bare "header too small")
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputValueError(f"Region Mask: the CLIP weights file {path} cannot be read ({detail}); re-download "
                              "it from the model's Hugging Face repository, or remove it to use another backend"
                              ) from error
    logger.info("loaded CLIP %s (%s) from %s", model_name, pretrained_tag, path)
    return OpenClipEmbedder(model, preprocess, open_clip.get_tokenizer(model_name), weights=path)


# --------------------------------------------------------------------------------------------- proposals


def _check_image(image: torch.Tensor) -> torch.Tensor:
    image = region_image(image)
    if min(image.shape[1:]) < 2:
        raise InputShapeError(f"image must be at least 2×2 pixels to be cut into proposals, got {list(image.shape)}")
    return image


def _without_core(pieces: np.ndarray) -> np.ndarray:
    """Cells of pieces in which no cell has all 8 neighbours in the same piece (the image edge repeats)."""
    padded = np.pad(pieces, 1, mode="edge")
    height, width = pieces.shape
    core = np.ones(pieces.shape, dtype=bool)
    for dy in range(3):
        for dx in range(3):
            core &= padded[dy:dy + height, dx:dx + width] == pieces
    return np.bincount(pieces[core], minlength=int(pieces.max()) + 1)[pieces] == 0


def image_proposals(image: torch.Tensor, n_segments: int = 12, grid: int = 64, spatial_weight: float = 0.6,
                    min_cells: int = 8, seed: int = 0) -> torch.Tensor:
    """Superpixel-like proposals without attention: k-means on (Lab colour, position) of a ≤grid-cell thumbnail,
    split into 8-connected pieces; pieces under ``min_cells`` or without a 3×3 core (one-cell strips, typically the
    mixed colours along an edge) are merged into their nearest solid neighbour. Returns int64 [H, W] ids 0..P-1."""
    image = _check_image(image)
    if n_segments < 1 or grid < 2 or min_cells < 1:
        raise InputValueError(f"need n_segments >= 1, grid >= 2, min_cells >= 1; got {n_segments}, {grid}, {min_cells}")
    height, width = image.shape[1:]
    scale = grid / max(height, width)
    gh, gw = max(1, round(height * scale)), max(1, round(width * scale))
    thumb = torch.nn.functional.interpolate(image[None], size=(gh, gw), mode="area")[0]
    lab = cv2.cvtColor(thumb.permute(1, 2, 0).contiguous().numpy(), cv2.COLOR_RGB2Lab) / 100.0
    yy, xx = np.mgrid[0:gh, 0:gw] / max(gh, gw)
    features = np.concatenate([lab, spatial_weight * np.stack([yy, xx], axis=-1)], axis=-1).reshape(gh * gw, 5)
    with threadpool_limits(limits=1):  # tiny problem; threads only add spin-waits (see attention_mask, item 7)
        clusters = KMeans(min(n_segments, gh * gw), n_init=3, random_state=seed).fit_predict(features)
    pieces = split_segments(torch.from_numpy(clusters.astype(np.int64)).reshape(gh, gw)).numpy()
    small = (np.bincount(pieces.reshape(-1))[pieces] < min_cells) | _without_core(pieces)
    if small.any() and not small.all():
        nearest = ndimage.distance_transform_edt(small, return_distances=False, return_indices=True)
        pieces = pieces[tuple(nearest)]
    _, relabelled = np.unique(pieces, return_inverse=True)
    return upsample_labels(torch.from_numpy(relabelled.reshape(gh, gw).astype(np.int64)), (height, width))


def proposal_crops(image: torch.Tensor, proposals: torch.Tensor, ids: Sequence[int],
                   margin: float = 0.1) -> list[torch.Tensor]:
    """Square crop around each proposal's box (+margin); pixels outside the proposal get the image's mean colour."""
    fill = image.mean(dim=(1, 2))
    height, width = proposals.shape
    crops = []
    for region_id in ids:
        inside = proposals == region_id
        rows, cols = torch.nonzero(inside.any(dim=1))[:, 0], torch.nonzero(inside.any(dim=0))[:, 0]
        top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        side = int(max(bottom - top, right - left) * (1 + 2 * margin)) + 1
        cy, cx = (top + bottom) // 2, (left + right) // 2
        canvas = fill[:, None, None].expand(3, side, side).clone()
        y0, x0 = cy - side // 2, cx - side // 2
        ys, xs = slice(max(y0, 0), min(y0 + side, height)), slice(max(x0, 0), min(x0 + side, width))
        patch = torch.where(inside[ys, xs], image[:, ys, xs], fill[:, None, None])
        canvas[:, ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0] = patch
        crops.append(canvas)
    return crops


# --------------------------------------------------------------------------------------------- labelling


@dataclass
class ClipRegionResult:
    """mask [H, W] float32 {0, 1} = union of kept proposals; proposals [H, W] int64; ids evaluated (rows of probs);
    probs [P, C] softmax over ``classes`` (positives first); positive_prob [P]; winners: top class per id."""

    mask: torch.Tensor
    proposals: torch.Tensor
    ids: list[int]
    kept: list[int]
    classes: list[str]
    n_positive: int
    probs: torch.Tensor
    positive_prob: torch.Tensor
    winners: list[str]
    warnings: list[str] = field(default_factory=list)


def class_embeddings(embedder: ImageTextEmbedder, classes: Sequence[str],
                     templates: Sequence[str] = PROMPT_TEMPLATES) -> torch.Tensor:
    """One embedding per class: the normalised mean over prompt templates."""
    if not templates:
        raise InputValueError("templates is empty; give at least one, e.g. 'a photo of {}.'")
    texts = [template.format(name) for name in classes for template in templates]
    embedded = embedder.embed_texts(texts).reshape(len(classes), len(templates), -1).mean(dim=1)
    return torch.nn.functional.normalize(embedded, dim=-1)


def label_regions(
    image: torch.Tensor,
    proposals: torch.Tensor,
    words: str | Sequence[str],
    embedder: ImageTextEmbedder,
    *,
    background: Sequence[str] = DEFAULT_BACKGROUND,
    templates: Sequence[str] = PROMPT_TEMPLATES,
    threshold: float = 0.5,
    min_area: float = 0.002,
) -> ClipRegionResult:
    """Keep the proposals CLIP calls one of ``words`` (see module docstring); ``proposals`` is an int [h, w] map of
    the same aspect (any resolution, nearest-resized). Proposals under ``min_area`` of the image are not scored."""
    image = _check_image(image)
    positives = parse_phrases(words)
    check_number(threshold, "threshold", minimum=0.0, maximum=1.0, expected="a probability")
    if not isinstance(proposals, torch.Tensor) or proposals.ndim != 2 or proposals.is_floating_point():
        raise InputShapeError("proposals must be an integer tensor [h, w] of region ids")
    if proposals.min() < 0:
        raise InputValueError("proposal ids must be >= 0")
    size = (int(image.shape[1]), int(image.shape[2]))
    proposals_px = upsample_labels(proposals.long().cpu(), size)
    taken = {word_stem(w) for w in positives}
    extra = [b for b in dict.fromkeys(b.strip().lower() for b in background) if b and word_stem(b) not in taken]
    classes = positives + extra
    warnings = [] if extra else ["no background vocabulary: every proposal is kept"]
    counts = torch.bincount(proposals_px.reshape(-1))
    ids = torch.nonzero(counts >= max(1.0, min_area * counts.sum())).reshape(-1).tolist()
    crops = proposal_crops(image, proposals_px, ids)
    logits = embedder.logit_scale * embedder.embed_images(crops) @ class_embeddings(embedder, classes, templates).T
    probs = logits.softmax(dim=-1)
    positive_prob = probs[:, :len(positives)].sum(dim=-1)
    top = probs.argmax(dim=-1)
    keep = (top < len(positives)) | (positive_prob >= threshold)
    kept = [ids[i] for i in torch.nonzero(keep).reshape(-1).tolist()]
    if not kept:
        warnings.append(f"CLIP found none of {', '.join(positives)} in the {len(ids)} proposals")
    mask = torch.isin(proposals_px, torch.tensor(kept, dtype=torch.int64)).float()
    return ClipRegionResult(mask, proposals_px, ids, kept, classes, len(positives), probs, positive_prob,
                            [classes[i] for i in top.tolist()], warnings)
