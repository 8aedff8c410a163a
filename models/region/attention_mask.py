"""Region mask from diffusion self-attention clusters, filtered by a coarse mask (docs/pipeline.md#3-region-mask).

The official `generate_attn_mask` procedure, with each of its quirks decided on purpose:

1. Features. ``kmeans`` clusters the per-token rows F[n] = concat_r A_r[n, :] (N × R·N) as the official code does,
   but through an exact PCA: the centred Gram matrix F·Fᵀ = Σ_r A_r A_rᵀ (N × N, F is never built) is
   eigendecomposed and k-means runs on the top ``max(pca_dims, n_clusters)`` principal coordinates. With
   ``pca_dims=None`` all coordinates are kept, pairwise distances are exactly those of F and so is the k-means
   objective (the same clusters as k-means on the raw rows for the same seed). The default 16 is a denoising
   choice, measured on planted attention (benchmarks/region_mask.py): the near-uniform noise of 16384-d softmax
   rows blinds k-means++ seeding, so k-means on the raw rows (official) or on ≥ 64 coordinates often stops in a
   local minimum that merges small regions, while 16 coordinates recovered the planted regions in 40/40 seeded
   runs. It is not a speed-up: the Gram matmul (34 GFLOP at N=1024, R=16) costs about what k-means on the raw
   rows does.
2. ``spectral`` uses the head/branch-averaged attention as affinity, symmetrised explicitly as (A+Aᵀ)/2 — what
   scikit-learn does anyway (with a warning) to the official non-symmetric matrix.
3. Both methods are seeded (official: unseeded), so re-running a node gives the same mask. k-means keeps n_init 5;
   spectral keeps the official n_init 100 for its label assignment (it costs ~0.1 s on N=1024).
4. Connected components (8-connectivity, scipy.ndimage) split EVERY cluster. The official code leaves cluster 0
   whole (skimage treats label 0 as background), which judges an arbitrary cluster as one segment across the whole
   image. Segment ids are int64: the official PIL "L" round trip that clips ids above 255 is a bug, not reproduced.
5. Selection as official, at pixel resolution: segments are upsampled (nearest) to the image size, the coarse mask
   (any resolution of the same aspect) is area-resized to it and binarised at 0.5, and a segment is kept when
   |segment ∩ coarse| / |segment| ≥ threshold. The result is the union of kept segments, NOT intersected with the
   coarse mask.
6. Erosion as official, at the output pixel resolution with a ones(k×k) kernel repeated ``erosion_iter`` times
   (0 = unchanged); each iteration shrinks the mask by k//2 pixels. Outside the frame counts as foreground
   (OpenCV's default), so a region touching the image edge is not eaten from the edge. k is in output pixels,
   i.e. official behaviour at 512²; raise it for larger images.
7. Threads: the N×N eigendecomposition and scikit-learn's loops run single-threaded. They are small, and on a busy
   2-core machine their multi-threaded spin-waits made them 20-70× slower (eigh 13 s vs 0.18 s, spectral 4 s vs
   0.07 s); the Gram matmul keeps torch's threads.
8. Grid → pixels is nearest-neighbour (pixel-centre rule; exactly 16×16 blocks for 32 → 512), for any grid
   gh×gw and any image size of the same aspect ratio (attention captured at 512² can serve a 1024² image).
9. Additions: the coarse mask may come from the prompt's cross-attention for some words instead of ODISE
   (:func:`mask_from_words`), or from the user (:func:`refine_external_mask`, passed through without attention).
"""

from __future__ import annotations

import colorsys
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from sklearn.cluster import KMeans, SpectralClustering
from threadpoolctl import threadpool_limits

from ..checks import InputShapeError, InputValueError, check_mask, check_nchw, check_number
from .attention_capture import AttentionCapture, aspect_matches
from .words import parse_words

Method = Literal["spectral", "kmeans"]
CLUSTER_METHODS: tuple[Method, ...] = ("spectral", "kmeans")
"""How the attention tokens are clustered (Region Mask's ``cluster_type``); the first is the default."""
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
_SPECIAL_TOKEN = re.compile(r"<\|?(start_?of_?text|end_?of_?text|pad)\|?>(</w>)?")


def _check_erosion(kernel_size: int, iterations: int) -> None:
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise InputValueError(f"erosion_ksize must be an odd int >= 1 (centred kernel), got {kernel_size!r}")
    if not isinstance(iterations, int) or iterations < 0:
        raise InputValueError(f"erosion_iter must be an int >= 0 (0 = no erosion), got {iterations!r}")


@dataclass(frozen=True)
class MaskParams:
    """Knobs of the procedure; defaults are the official configs/inference.yaml values (docs/pipeline.md#defaults)."""

    n_clusters: int = 5
    method: Method = "spectral"
    threshold: float = 0.7
    erosion_ksize: int = 5
    erosion_iter: int = 0
    seed: int = 0
    pca_dims: int | None = 16

    def validate(self, num_tokens: int) -> None:
        if self.method not in CLUSTER_METHODS:
            raise InputValueError(f"method must be 'spectral' or 'kmeans', got {self.method!r}")
        if not isinstance(self.n_clusters, int) or self.n_clusters < 2:
            raise InputValueError(f"n_clusters must be an int in [2, {num_tokens}], got {self.n_clusters!r}")
        if self.n_clusters > num_tokens:
            fix = (f"lower `n_clusters` to at most {num_tokens}" if num_tokens >= 2 else
                   "connect a mask without attention")
            raise InputValueError(f"`n_clusters` is {self.n_clusters}, but the attention of this image has only "
                                  f"{num_tokens} token(s) to cluster (one per 16×16 pixels): {fix}, or sample a "
                                  "larger image (512² as the official)")
        check_number(self.threshold, "threshold", minimum=0.0, maximum=1.0, expected="an overlap fraction")
        _check_erosion(self.erosion_ksize, self.erosion_iter)
        if self.pca_dims is not None and (not isinstance(self.pca_dims, int) or self.pca_dims < 1):
            raise InputValueError(f"pca_dims must be None (all components) or an int >= 1, got {self.pca_dims!r}")


@dataclass
class RegionMaskResult:
    """mask: [H, W] float32 in {0, 1} (eroded). segments/clusters: [gh, gw] int64 per token (None when no attention
    was used). kept: segment ids that passed. overlaps: [S] float32 overlap per segment id. timings: seconds."""

    mask: torch.Tensor
    segments: torch.Tensor | None = None
    clusters: torch.Tensor | None = None
    kept: list[int] = field(default_factory=list)
    overlaps: torch.Tensor | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- clustering


def principal_coordinates(self_attn: torch.Tensor, dims: int | None) -> np.ndarray:
    """Principal coordinates of the rows F[n] = concat_r A_r[n, :] from the N×N Gram matrix Σ_r A_r A_rᵀ
    (exact distances when all N are kept), largest first."""
    gram = torch.bmm(self_attn, self_attn.transpose(1, 2)).sum(dim=0).double().cpu()  # on the capture's device
    gram -= gram.mean(dim=0, keepdim=True)
    gram -= gram.mean(dim=1, keepdim=True)
    with threadpool_limits(limits=1):
        values, vectors = torch.linalg.eigh(gram)
    keep = gram.shape[0] if dims is None else min(dims, gram.shape[0])
    values, vectors = values.flip(0)[:keep], vectors.flip(1)[:, :keep]
    return (vectors * values.clamp_min(0.0).sqrt()).numpy()


def cluster_tokens(self_attn: torch.Tensor, grid: tuple[int, int], params: MaskParams) -> torch.Tensor:
    """Cluster id per token as an int64 [gh, gw] map, from one image's attention [R, N, N]."""
    n = grid[0] * grid[1]
    if self_attn.ndim != 3 or self_attn.shape[1] != n or self_attn.shape[2] != n:
        raise InputShapeError(f"self_attn must be [R, N, N] with N = {n}, got {tuple(self_attn.shape)}")
    params.validate(n)
    attn = self_attn.detach().float()
    if params.method == "kmeans":
        dims = None if params.pca_dims is None else max(params.pca_dims, params.n_clusters)
        data = principal_coordinates(attn, dims)
        model = KMeans(params.n_clusters, init="k-means++", n_init=5, random_state=params.seed)
    else:
        affinity = attn.mean(dim=0).double().cpu().numpy()
        data = (affinity + affinity.T) / 2.0
        model = SpectralClustering(params.n_clusters, affinity="precomputed", assign_labels="kmeans",
                                   n_init=100, random_state=params.seed)
    with threadpool_limits(limits=1):
        labels = model.fit_predict(data)
    return torch.from_numpy(labels.astype(np.int64)).reshape(grid)


def split_segments(clusters: torch.Tensor) -> torch.Tensor:
    """Split every cluster into 8-connected components; ids 0..S-1 ordered by cluster, then scan order."""
    labels = clusters.numpy()
    segments = np.zeros(labels.shape, dtype=np.int64)
    next_id = 0
    for cluster in np.unique(labels):
        components, count = ndimage.label(labels == cluster, structure=_EIGHT_CONNECTED)
        inside = components > 0
        segments[inside] = components[inside] - 1 + next_id
        next_id += count
    return torch.from_numpy(segments)


# --------------------------------------------------------------------------------------------- resolution


def region_image(image: torch.Tensor) -> torch.Tensor:
    """One picture [3, H, W] in 0..1 as a float32 CPU tensor (clamped): what the overlay and the CLIP and ODISE
    backends read, checked once for all of them."""
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] != 3:
        raise InputShapeError(
            f"image must be a float tensor [3, H, W] in 0..1, got {tuple(getattr(image, 'shape', ()))}")
    return check_nchw(image[None], "image", channels=3)[0].detach().float().cpu().clamp(0, 1)


def upsample_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of an integer map (pixel-centre rule) to ``size`` = (H, W)."""
    h, w = labels.shape
    rows = ((torch.arange(size[0], dtype=torch.float64) + 0.5) * h / size[0]).long().clamp_(max=h - 1)
    cols = ((torch.arange(size[1], dtype=torch.float64) + 0.5) * w / size[1]).long().clamp_(max=w - 1)
    return labels[rows][:, cols]


def _one_mask(mask: torch.Tensor, what: str) -> torch.Tensor:
    """One mask (a batch of one in any layout :func:`models.checks.check_mask` takes) as float32 [H, W]."""
    mask = check_mask(mask, what)
    if mask.shape[0] != 1:
        raise InputShapeError(f"{what} must be one mask, got a batch of {mask.shape[0]}: pass one item at a time")
    return mask[0, 0]


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area-resize a 0..1 mask of the same aspect ratio to ``size`` and binarise at 0.5 → bool [H, W]."""
    mask = _one_mask(mask, "mask")
    if not aspect_matches(tuple(mask.shape), size):
        raise InputShapeError(f"mask of size {tuple(mask.shape)} does not have the aspect ratio of the image {size}; "
                              "give a mask of the same image")
    if tuple(mask.shape) != tuple(size):
        mask = F.interpolate(mask[None, None], size=size, mode="area")[0, 0]
    return mask >= 0.5


def _target_size(capture: AttentionCapture, image_size: tuple[int, int] | None) -> tuple[int, int]:
    size = tuple(capture.image_size if image_size is None else image_size)
    if len(size) != 2 or min(size) <= 0:
        raise InputShapeError(f"image_size must be (H, W) with positive ints, got {image_size!r}")
    if not aspect_matches(capture.grid, size):
        raise InputShapeError(
            f"the attention was captured on a {capture.grid[0]}×{capture.grid[1]} grid for a "
            f"{capture.image_size[0]}×{capture.image_size[1]} image and cannot serve a {size[0]}×{size[1]} image of "
            "another aspect ratio; sample at this size or resize the image")
    return int(size[0]), int(size[1])


# --------------------------------------------------------------------------------------------- selection


def select_segments(
    segments_px: torch.Tensor, coarse_px: torch.Tensor, threshold: float
) -> tuple[list[int], torch.Tensor]:
    """Ids whose fraction of pixels inside the coarse mask is ≥ threshold, and the fraction of every id."""
    ids = segments_px.reshape(-1).numpy()
    sizes = np.bincount(ids)
    inside = np.bincount(ids, weights=coarse_px.reshape(-1).numpy().astype(np.float64), minlength=sizes.size)
    overlaps = np.divide(inside, sizes, out=np.zeros(sizes.size), where=sizes > 0)
    kept = np.flatnonzero((overlaps >= threshold) & (sizes > 0))
    return kept.tolist(), torch.from_numpy(overlaps.astype(np.float32))


def erode_mask(mask: torch.Tensor, kernel_size: int = 5, iterations: int = 0) -> torch.Tensor:
    """Binary erosion with a ones(k×k) kernel; outside the frame counts as foreground. Returns float {0, 1}."""
    _check_erosion(kernel_size, iterations)
    binary = _one_mask(mask, "mask") >= 0.5
    if iterations == 0:
        return binary.float()
    kernel = np.ones((kernel_size, kernel_size), dtype=np.uint8)
    eroded = cv2.erode(binary.numpy().astype(np.uint8), kernel, iterations=iterations)
    return torch.from_numpy(eroded.astype(np.float32))


def mask_from_attention(
    capture: AttentionCapture,
    coarse_mask: torch.Tensor,
    params: MaskParams = MaskParams(),  # noqa: B008 - frozen dataclass, safe as a default
    *,
    batch_index: int = 0,
    image_size: tuple[int, int] | None = None,
) -> RegionMaskResult:
    """The official procedure for one image of the batch: cluster, split, keep segments covered by the coarse mask."""
    capture.validate()
    params.validate(capture.grid[0] * capture.grid[1])
    if not 0 <= batch_index < capture.batch_size:
        raise InputValueError(f"batch_index {batch_index} is out of range for a capture of {capture.batch_size} images")
    size = _target_size(capture, image_size)
    coarse_px = resize_mask(coarse_mask, size)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    clusters = cluster_tokens(capture.self_attn[batch_index], capture.grid, params)
    timings["cluster"] = time.perf_counter() - start
    segments = split_segments(clusters)
    segments_px = upsample_labels(segments, size)
    kept, overlaps = select_segments(segments_px, coarse_px, params.threshold)
    union = torch.from_numpy(np.isin(segments_px.numpy(), kept))
    mask = erode_mask(union, params.erosion_ksize, params.erosion_iter)
    timings["total"] = time.perf_counter() - start
    return RegionMaskResult(mask, segments, clusters, kept, overlaps,
                            _selection_warnings(coarse_px, kept, overlaps, union, mask, params), timings)


def _selection_warnings(coarse_px: torch.Tensor, kept: list[int], overlaps: torch.Tensor, union: torch.Tensor,
                        mask: torch.Tensor, params: MaskParams) -> list[str]:
    if not coarse_px.any():
        return ["the coarse mask is empty, so no segment can be kept; check the vocabulary/words or the mask"]
    if not kept:
        return [f"no segment reached {params.threshold:.0%} overlap with the coarse mask (best "
                f"{float(overlaps.max()):.0%}); lower the threshold or raise n_clusters"]
    if union.any() and not mask.any():
        return ["erosion removed the whole mask; lower erosion_iter or erosion_ksize"]
    return []


def refine_external_mask(
    mask: torch.Tensor,
    capture: AttentionCapture | None = None,
    params: MaskParams = MaskParams(),  # noqa: B008 - frozen dataclass, safe as a default
    *,
    batch_index: int = 0,
    image_size: tuple[int, int] | None = None,
) -> RegionMaskResult:
    """A user mask refined to attention segments (it plays the coarse mask); without attention it is passed
    through, resized to ``image_size`` if given and binarised at 0.5 like every coarse mask."""
    if capture is not None:
        return mask_from_attention(capture, mask, params, batch_index=batch_index, image_size=image_size)
    checked = _one_mask(mask, "mask")
    size = tuple(checked.shape) if image_size is None else image_size
    return RegionMaskResult(resize_mask(checked, size).float(),
                            warnings=["no attention given: the mask is passed through unrefined"])


# --------------------------------------------------------------------------------------------- words


def word_stem(word: str) -> str:
    """Crude English singular so "waterfalls"/"waterfall", "skies"/"sky", "beaches"/"beach" compare equal."""
    word = word.lower().strip()
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "zes", "ches", "shes")) and len(word) > 4:
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def prompt_words(tokens: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Words of a tokenised prompt with the token indices that make each of them (see AttentionCapture.tokens)."""
    bpe = any(t.endswith("</w>") for t in tokens)
    words: list[tuple[str, list[int]]] = []
    pieces: list[int] = []
    for index, token in enumerate(tokens):
        if _SPECIAL_TOKEN.fullmatch(token):
            pieces = []
            continue
        pieces.append(index)
        if not bpe or token.endswith("</w>"):
            text = "".join(tokens[i] for i in pieces).replace("</w>", "").strip().lower()
            if text:
                words.append((text, pieces))
            pieces = []
    return words


def match_tokens(tokens: Sequence[str], words: str | Sequence[str]) -> dict[str, list[int]]:
    """Token indices of each requested word found in the prompt (singular/plural agnostic); absent words omitted."""
    wanted = {word_stem(w): w for w in parse_words(words)}
    matched: dict[str, list[int]] = {}
    for text, indices in prompt_words(tokens):
        word = wanted.get(word_stem(text))
        if word is not None:
            matched.setdefault(word, []).extend(indices)
    return matched


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the cut maximising between-class variance of the histogram of ``values``."""
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    below = np.cumsum(hist)[:-1].astype(np.float64)
    above = hist.sum() - below
    sum_below = np.cumsum(hist * centres)[:-1]
    mean_below = sum_below / np.maximum(below, 1)
    mean_above = (np.sum(hist * centres) - sum_below) / np.maximum(above, 1)
    between = below * above * (mean_below - mean_above) ** 2
    return float(edges[1 + int(np.argmax(between))])


@dataclass
class CoarseMask:
    """mask: [gh, gw] float32 {0, 1}; score: [gh, gw] combined normalised cross-attention; matched: word → tokens."""

    mask: torch.Tensor
    score: torch.Tensor
    matched: dict[str, list[int]]
    warnings: list[str]


def cross_attention_mask(capture: AttentionCapture, words: str | Sequence[str], *, batch_index: int = 0) -> CoarseMask:
    """Coarse mask from the cross-attention of the prompt tokens that spell ``words``.

    Each matched token map is min-max normalised, maps are combined by maximum (any word may claim a token), and
    the combination is cut with Otsu's threshold: parameter-free and adapted to each prompt, where a fixed
    mean + k·std would need tuning per image. No word found → empty mask and a warning.
    """
    capture.validate()
    if capture.cross_attn is None or capture.tokens is None:
        raise InputValueError("this capture has no cross-attention; capture it in the sampler to use the words mode")
    if not 0 <= batch_index < capture.batch_size:
        raise InputValueError(f"batch_index {batch_index} is out of range for a capture of {capture.batch_size} images")
    requested = parse_words(words)
    matched = match_tokens(capture.tokens, requested)
    missing = [w for w in requested if w not in matched]
    warnings = [f"words not found in the prompt: {', '.join(missing)}"] if missing else []
    empty = torch.zeros(capture.grid, dtype=torch.float32)
    if not matched:
        return CoarseMask(empty, empty.clone(), matched, warnings + ["no word was found, so the coarse mask is empty"])
    indices = sorted({i for found in matched.values() for i in found})
    maps = capture.cross_attn[batch_index, indices].double()
    low = maps.amin(dim=(1, 2), keepdim=True)
    span = maps.amax(dim=(1, 2), keepdim=True) - low
    score = ((maps - low) / span.clamp_min(1e-12)).amax(dim=0)
    if float(score.max() - score.min()) < 1e-6:
        flat = ["the cross-attention of the words is flat, so the coarse mask is empty"]
        return CoarseMask(empty, score.float(), matched, warnings + flat)
    mask = (score >= otsu_threshold(score.numpy())).float()
    return CoarseMask(mask, score.float(), matched, warnings)


def mask_from_words(
    capture: AttentionCapture,
    words: str | Sequence[str],
    params: MaskParams = MaskParams(),  # noqa: B008 - frozen dataclass, safe as a default
    *,
    batch_index: int = 0,
    image_size: tuple[int, int] | None = None,
) -> RegionMaskResult:
    """The official procedure with the cross-attention coarse mask of ``words`` in place of ODISE's."""
    coarse = cross_attention_mask(capture, words, batch_index=batch_index)
    result = mask_from_attention(capture, coarse.mask, params, batch_index=batch_index, image_size=image_size)
    result.warnings = coarse.warnings + result.warnings
    return result


# --------------------------------------------------------------------------------------------- preview


def preview_overlay(image: torch.Tensor, labels: torch.Tensor | None, mask: torch.Tensor,
                    alpha: float = 0.45) -> torch.Tensor:
    """Image [3, H, W] in 0..1 with label regions tinted (distinct hues) and the mask outline drawn in white."""
    out = region_image(image)
    size = (int(out.shape[1]), int(out.shape[2]))
    if labels is not None:
        labels_px = upsample_labels(labels.long(), size)
        count = int(labels_px.max()) + 1
        palette = torch.tensor([colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.75, 1.0) for i in range(count)],
                               dtype=torch.float32)
        out = out * (1 - alpha) + palette[labels_px].permute(2, 0, 1) * alpha
    binary = resize_mask(mask, size).numpy().astype(np.uint8)
    edge = cv2.morphologyEx(binary, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    out[:, torch.from_numpy(edge)] = 1.0
    return out
