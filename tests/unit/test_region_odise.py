"""ODISE coarse-mask contract (docs/pipeline.md#coarse-masks) with a stand-in predictor; ODISE itself is not
installed."""

import importlib.util

import numpy as np
import pytest
import torch

from models.region import odise as region_odise
from models.region.odise import available, odise_mask, panoptic_to_mask, require
from models.region.words import parse_vocabulary


class StandInPredictor:
    """Returns a fixed panoptic map in detectron2's format and records what it was given."""

    def __init__(self, panoptic: torch.Tensor, segments_info: list[dict]):
        self.output = {"panoptic_seg": (panoptic, segments_info), "sem_seg": torch.zeros(2, *panoptic.shape)}
        self.seen: list[np.ndarray] = []

    def __call__(self, rgb: np.ndarray) -> dict:
        self.seen.append(rgb)
        return self.output


def panoptic_scene() -> tuple[torch.Tensor, list[dict]]:
    panoptic = torch.zeros(48, 64, dtype=torch.int32)
    panoptic[5:20, 10:30] = 1
    panoptic[30:45, 40:60] = 2
    info = [{"id": 1, "category_id": 0, "isthing": True}, {"id": 2, "category_id": 0, "isthing": True}]
    return panoptic, info


def test_vocabulary_split_into_classes_and_synonyms():
    assert parse_vocabulary("water, waterfall, river, ocean, lake, sea") == [
        ["water", "waterfall", "river", "ocean", "lake", "sea"]]
    assert parse_vocabulary(" water ,river; sky;; cloud, ") == [["water", "river"], ["sky"], ["cloud"]]
    with pytest.raises(ValueError, match="empty"):
        parse_vocabulary(" ; , ")
    with pytest.raises(TypeError, match="string"):
        parse_vocabulary(["water"])


def test_every_nonzero_segment_becomes_foreground():
    panoptic, info = panoptic_scene()
    predictor = StandInPredictor(panoptic, info)
    image = torch.rand(3, 48, 64, generator=torch.Generator().manual_seed(0))
    result = odise_mask(predictor, image)
    assert torch.equal(result.mask, (panoptic > 0).float()) and result.mask.dtype == torch.float32
    assert result.mask.sum() == 15 * 20 * 2 and result.segments_info == info and result.warnings == []
    seen = predictor.seen[0]
    assert seen.dtype == np.uint8 and seen.shape == (48, 64, 3)  # RGB uint8 HWC, as ODISE's demo reads images
    np.testing.assert_array_equal(seen, (image * 255).round().byte().permute(1, 2, 0).numpy())


def test_output_at_another_size_is_resized_and_empty_output_warns():
    panoptic, info = panoptic_scene()
    result = odise_mask(StandInPredictor(panoptic, info), torch.rand(3, 96, 128))
    assert result.mask.shape == (96, 128) and result.mask.sum() == 4 * 15 * 20 * 2
    empty = odise_mask(StandInPredictor(torch.zeros(48, 64, dtype=torch.int64), []), torch.rand(3, 48, 64))
    assert not empty.mask.any() and "no segment" in empty.warnings[0]


def test_bad_inputs_are_explained():
    panoptic, info = panoptic_scene()
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        odise_mask(StandInPredictor(panoptic, info), torch.rand(48, 64, 3).permute(2, 0, 1)[0])
    with pytest.raises(ValueError, match="panoptic_seg"):
        odise_mask(lambda rgb: {"sem_seg": torch.zeros(1)}, torch.rand(3, 48, 64))
    with pytest.raises(ValueError, match="integer map"):
        panoptic_to_mask(torch.zeros(4, 4))


def test_availability_and_install_message():
    installed = all(importlib.util.find_spec(n) is not None for n in ("odise", "detectron2"))
    assert available() is installed
    if installed:
        require()
    else:
        with pytest.raises(ImportError, match="detectron2") as error:
            require()
        assert "ODISE_MODEL_ZOO" in str(error.value) and region_odise.ODISE_WEIGHTS in str(error.value)
        with pytest.raises(ImportError, match="not installed"):
            region_odise.build_predictor("water")
