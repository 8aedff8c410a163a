"""ODISE open-vocabulary panoptic segmentation as the coarse mask (docs/pipeline.md#coarse-masks), when it is installed.

ODISE is optional: it needs detectron2 and ODISE built from source, Mask2Former CUDA ops, SD-1.3 and CLIP
ViT-L-14-336 weights. Everything here except :func:`load_odise` and :func:`odise_predictor` works without it, so
the output contract is tested with a stand-in predictor. Contract (docs/pipeline.md#coarse-masks): the vocabulary
"a1,a2;b1" is split on ";" into classes and "," into synonyms (first synonym = display name,
:mod:`models.region.words`); every pixel with a non-zero panoptic segment id becomes 1, i.e. the union of all
segments found for that vocabulary (the semantic output is ignored, as in the official code).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..checks import InputShapeError, InputValueError
from .attention_mask import region_image, upsample_labels
from .words import DEFAULT_WORDS, parse_vocabulary

ODISE_CONFIG = "Panoptic/odise_label_coco_50e.py"
ODISE_WEIGHTS = "odise_label_coco_50e-b67d2efc.pth"
INSTALL_HELP = (
    "ODISE is not installed (the packages 'odise' and 'detectron2' must both import). It is optional: the CLIP and "
    "cross-attention modes need nothing extra. To use it, in ComfyUI's Python environment build detectron2 from "
    "source (pip install 'git+https://github.com/facebookresearch/detectron2.git'), then clone NVlabs/ODISE and "
    "'pip install -e .' in it; this needs a CUDA toolkit matching torch and compiles Mask2Former's ops. Known "
    "pain points: the build may need its temp dir created (ODISE issue #19), crypt.h / "
    "cusparse.h errors and a setuptools pin (#43); ODISE downloads sd-v1-3.ckpt from a URL that now returns 404 "
    "(Text2Cinemagraph issues #10, #14), so place it in its cache yourself; set ODISE_MODEL_ZOO to a folder "
    f"holding {ODISE_WEIGHTS} to avoid its download."
)

Predictor = Callable[[np.ndarray], dict[str, Any]]
"""RGB uint8 [H, W, 3] → detectron2 predictions with "panoptic_seg": (segment ids [H, W], segments_info)."""


def available() -> bool:
    """Whether ODISE and detectron2 can be imported (checked without importing them: they download at import)."""
    return all(importlib.util.find_spec(name) is not None for name in ("odise", "detectron2"))


def require() -> None:
    if not available():
        raise ImportError(INSTALL_HELP)


def panoptic_to_mask(panoptic: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Every pixel with a non-zero segment id → 1 (union of all segments), as float32 [H, W]."""
    ids = torch.as_tensor(panoptic)
    if ids.ndim != 2 or ids.is_floating_point():
        raise InputShapeError(f"panoptic segment ids must be an integer map [H, W], got {ids.dtype} {tuple(ids.shape)}")
    return (ids != 0).float()


@dataclass
class OdiseResult:
    """mask [H, W] float32 {0, 1}; panoptic [H, W] int64 segment ids; segments_info as the predictor gave it."""

    mask: torch.Tensor
    panoptic: torch.Tensor
    segments_info: list[dict[str, Any]]
    warnings: list[str]


def odise_mask(predictor: Predictor, image: torch.Tensor) -> OdiseResult:
    """Run a predictor on one image [3, H, W] in 0..1 and turn its panoptic output into the coarse mask."""
    image = region_image(image)
    size = (int(image.shape[1]), int(image.shape[2]))
    rgb = (image * 255).round().byte().permute(1, 2, 0).numpy()
    predictions = predictor(rgb)
    if not isinstance(predictions, dict) or "panoptic_seg" not in predictions:
        raise InputValueError("the ODISE predictor returned no 'panoptic_seg'; build it with panoptic_on=True")
    panoptic, segments_info = predictions["panoptic_seg"]
    panoptic = torch.as_tensor(panoptic).detach().cpu().long()
    if tuple(panoptic.shape) != size:
        panoptic = upsample_labels(panoptic, size)
    mask = panoptic_to_mask(panoptic)
    warnings = [] if mask.any() else ["ODISE found no segment for this vocabulary; the coarse mask is empty"]
    return OdiseResult(mask, panoptic, list(segments_info or []), warnings)


@dataclass
class OdiseModel:
    """The loaded ODISE network (``module``, a torch module) and its test-time augmentations; built once, then
    wrapped per vocabulary by :func:`odise_predictor`."""

    module: Any
    augmentations: Any


def load_odise(weights: str | None = None, device: str | None = None) -> OdiseModel:  # pragma: no cover - needs ODISE
    """The official set-up (label model, overlap threshold 0, CLIP head α 0.35 / β 0.65). ``weights``: a local
    checkpoint, else ODISE's model zoo."""
    require()
    from detectron2.config import instantiate
    from odise import model_zoo
    from odise.checkpoint import ODISECheckpointer
    from odise.config import instantiate_odise

    cfg = model_zoo.get_config(ODISE_CONFIG, trained=True)
    cfg.model.overlap_threshold = 0
    cfg.model.clip_head.alpha = 0.35
    cfg.model.clip_head.beta = 0.65
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = instantiate_odise(cfg.model).to(device).eval()
    ODISECheckpointer(model).load(weights or cfg.train.init_checkpoint)
    return OdiseModel(model, instantiate(cfg.dataloader.test.mapper).augmentations)


def odise_predictor(loaded: OdiseModel, vocabulary: str = DEFAULT_WORDS) -> Predictor:  # pragma: no cover
    """A :data:`Predictor` with the vocabulary as the only classes (seed 42, as the official), on the loaded
    network wherever its device is at call time."""
    from detectron2.data import MetadataCatalog
    from detectron2.data import transforms as T
    from odise.modeling.wrapper import OpenPanopticInference

    classes = parse_vocabulary(vocabulary)
    names = [synonyms[0] for synonyms in classes]
    metadata_name = "text2cinemagraph_odise"
    MetadataCatalog.pop(metadata_name, None)
    metadata = MetadataCatalog.get(metadata_name)
    metadata.thing_classes = names
    metadata.stuff_classes = names
    metadata.thing_dataset_id_to_contiguous_id = {i: i for i in range(len(names))}
    metadata.stuff_dataset_id_to_contiguous_id = {i: i for i in range(len(names))}
    inference = OpenPanopticInference(model=loaded.module, labels=classes, metadata=metadata, semantic_on=False,
                                      instance_on=False, panoptic_on=True).eval()

    def predict(rgb: np.ndarray) -> dict[str, Any]:
        height, width = rgb.shape[:2]
        aug_input = T.AugInput(rgb, sem_seg=None)
        loaded.augmentations(aug_input)
        tensor = torch.as_tensor(aug_input.image.astype("float32").transpose(2, 0, 1))
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(42)
            return inference([{"image": tensor, "height": height, "width": width}])[0]

    return predict


def build_predictor(vocabulary: str = DEFAULT_WORDS, weights: str | None = None,
                    device: str | None = None) -> Predictor:  # pragma: no cover - needs an ODISE install
    """Load ODISE and wrap it for one vocabulary (:func:`load_odise` + :func:`odise_predictor`)."""
    return odise_predictor(load_odise(weights, device), vocabulary)
