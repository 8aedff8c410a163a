"""open_clip zero-shot labelling of region proposals: weights lookup, real-architecture contract, decision logic."""

import math

import open_clip
import pytest
import torch
from safetensors.torch import save_file

from models.region import clip as region_clip
from models.region.clip import (
    OpenClipEmbedder,
    clip_weight_names,
    find_clip_weights,
    image_proposals,
    label_regions,
    load_clip,
    proposal_crops,
)
from models.region.words import parse_phrases


@pytest.fixture(scope="module")
def random_clip(tmp_path_factory) -> OpenClipEmbedder:
    """A real ViT-B-32 with random weights, saved as a local weights file and loaded back through load_clip."""
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    folder = tmp_path_factory.mktemp("clip")
    path = folder / clip_weight_names("ViT-B-32", "laion2b_s34b_b79k")[0]
    save_file({k: v.half().contiguous() for k, v in model.state_dict().items()}, str(path))
    embedder = load_clip(search_dirs=[folder / "missing", folder])
    path.unlink()  # 300 MB: do not leave it in pytest's kept temp dirs
    assert embedder.weights == path
    torch.testing.assert_close(embedder.model.visual.conv1.weight, model.visual.conv1.weight.half().float())
    return embedder


def blocks_image() -> torch.Tensor:
    """64×96 image: red left third, green middle, blue right third, with a mild vertical gradient."""
    image = torch.zeros(3, 64, 96)
    for channel in range(3):
        image[channel, :, 32 * channel:32 * (channel + 1)] = 0.9
    return image * torch.linspace(0.8, 1.0, 64)[None, :, None]


# ------------------------------------------------------------------------------------------------ weights


def test_missing_weights_error_names_files_and_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(region_clip, "_open_clip_cache", lambda *args: None)  # ignore this machine's cache
    with pytest.raises(FileNotFoundError) as error:
        load_clip(search_dirs=[tmp_path / "clip"])
    message = str(error.value)
    assert "open_clip_pytorch_model.bin" in message and str(tmp_path / "clip") in message
    assert "ComfyUI/models/text2cinemagraph/clip/" in message and "laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in message
    with pytest.raises(FileNotFoundError, match="not found"):
        load_clip(weights_path=str(tmp_path / "nope.bin"))
    with pytest.raises(ValueError, match="unknown open_clip model/tag"):
        load_clip(pretrained_tag="no-such-tag")
    wrong = tmp_path / "clip" / "open_clip_model.safetensors"
    wrong.parent.mkdir()
    save_file({"logit_scale": torch.ones(())}, str(wrong))
    with pytest.raises(ValueError, match="does not hold open_clip ViT-B-32 weights"):
        load_clip(search_dirs=[wrong.parent])


def test_weights_lookup_order(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (second / "open_clip_pytorch_model.bin").write_bytes(b"x")
    assert find_clip_weights(search_dirs=[first, second]) == second / "open_clip_pytorch_model.bin"
    (first / "ViT-B-32-laion2b_s34b_b79k.bin").write_bytes(b"x")
    assert find_clip_weights(search_dirs=[first, second]) == first / "ViT-B-32-laion2b_s34b_b79k.bin"


# ------------------------------------------------------------------------------------------------ proposals


def test_image_proposals_follow_colour_blocks():
    image = blocks_image()
    proposals = image_proposals(image, n_segments=6)
    assert proposals.shape == (64, 96) and proposals.dtype == torch.int64
    ids = torch.unique(proposals)
    assert torch.equal(ids, torch.arange(len(ids))) and len(ids) >= 3
    block = torch.arange(96)[None, :].expand(64, 96) // 32
    for region_id in ids:  # each proposal lies in one colour block, up to the thumbnail's mixed boundary cells
        counts = torch.bincount(block[proposals == region_id], minlength=3)
        assert counts.max() >= 0.95 * counts.sum()
    assert torch.equal(proposals, image_proposals(image, n_segments=6))
    with pytest.raises(ValueError, match="n_segments"):
        image_proposals(image, n_segments=0)


def test_crops_are_square_and_masked_with_the_mean_colour():
    image = blocks_image()
    proposals = (torch.arange(96)[None, :].expand(64, 96) >= 64).long()
    crop = proposal_crops(image, proposals, [1])[0]
    assert crop.shape[1] == crop.shape[2] >= 64
    centre = crop[:, crop.shape[1] // 2, crop.shape[2] // 2]
    assert centre[2] > 0.7 and centre[0] == 0  # the blue block itself
    torch.testing.assert_close(crop[:, 0, 0], image.mean(dim=(1, 2)))  # outside: the image mean colour


# ------------------------------------------------------------------------------------------------ real model


def test_random_clip_contract(random_clip):
    image = blocks_image()
    proposals = image_proposals(image, n_segments=4)
    proposals[0, 0] = int(proposals.max()) + 1  # a one-pixel proposal: too small to be scored
    result = label_regions(image, proposals, "water, sky", random_clip, background=("sky", "rock", "tree"),
                           templates=("a photo of {}.",))
    assert result.classes == ["water", "sky", "rock", "tree"] and result.n_positive == 2
    assert result.mask.shape == (64, 96) and set(result.mask.unique().tolist()) <= {0.0, 1.0}
    assert int(proposals.max()) not in result.ids
    assert result.probs.shape == (len(result.ids), 4)
    torch.testing.assert_close(result.probs.sum(-1), torch.ones(len(result.ids)))
    assert torch.equal(result.mask.bool(), torch.isin(result.proposals, torch.tensor(result.kept, dtype=torch.long)))
    for i, region_id in enumerate(result.ids):
        positive = result.winners[i] in ("water", "sky") or bool(result.positive_prob[i] >= 0.5)
        assert (region_id in result.kept) == positive
    again = label_regions(image, proposals, "water, sky", random_clip, background=("sky", "rock", "tree"),
                          templates=("a photo of {}.",))
    assert torch.equal(again.probs, result.probs) and again.kept == result.kept


# ------------------------------------------------------------------------------------------------ decision logic


class StandInClip:
    """Scores chosen by the test: texts are one-hot class axes; a crop's centre colour selects its log-probs."""

    logit_scale = 1.0

    def __init__(self, classes: list[str], probs_by_colour: dict[tuple[float, float, float], list[float]]):
        self.classes = classes
        self.probs_by_colour = probs_by_colour

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        return torch.eye(len(self.classes))[[self.classes.index(t) for t in texts]]

    def embed_images(self, crops: list[torch.Tensor]) -> torch.Tensor:
        centres = [tuple(round(float(v), 2) for v in c[:, c.shape[1] // 2, c.shape[2] // 2]) for c in crops]
        return torch.tensor([[math.log(p) for p in self.probs_by_colour[c]] for c in centres])


def quadrant_scene() -> tuple[torch.Tensor, torch.Tensor, list[tuple[float, float, float]]]:
    colours = [(0.1, 0.2, 0.9), (0.5, 0.4, 0.3), (0.2, 0.6, 0.8), (0.7, 0.7, 0.9)]
    proposals = torch.zeros(64, 64, dtype=torch.int64)
    proposals[:32, 32:], proposals[32:, :32], proposals[32:, 32:] = 1, 2, 3
    image = torch.stack([torch.tensor(colours)[proposals][..., c] for c in range(3)])
    return image, proposals, colours


# probabilities over [water, river, rock, sky] for proposals 0..3:
# 0 water wins; 1 rock wins; 2 sky wins but water+river = 0.6; 3 sky wins and water+river = 0.45
SCORES = [[0.9, 0.05, 0.03, 0.02], [0.05, 0.05, 0.8, 0.1], [0.3, 0.3, 0.0001, 0.3999], [0.3, 0.15, 0.0001, 0.5499]]


@pytest.mark.parametrize(("threshold", "expected"), [(0.5, [0, 2]), (0.4, [0, 2, 3]), (0.65, [0]), (1.0, [0])])
def test_decision_positive_wins_or_positive_sum_reaches_threshold(threshold, expected):
    image, proposals, colours = quadrant_scene()
    clip = StandInClip(["water", "river", "rock", "sky"], dict(zip(colours, SCORES, strict=True)))
    result = label_regions(image, proposals, ["water", "river"], clip, background=("rock", "sky", "rivers"),
                           templates=("{}",), threshold=threshold)
    assert result.classes == ["water", "river", "rock", "sky"]  # "rivers" duplicates a positive
    assert result.ids == [0, 1, 2, 3] and result.kept == expected
    assert result.winners == ["water", "rock", "sky", "sky"]
    torch.testing.assert_close(result.positive_prob, torch.tensor([0.95, 0.1, 0.6, 0.45]))
    assert torch.equal(result.mask.bool(), torch.isin(proposals, torch.tensor(expected)))


def test_proposals_at_another_resolution_and_bad_inputs():
    image, proposals, colours = quadrant_scene()
    clip = StandInClip(["water", "river", "rock", "sky"], dict(zip(colours, SCORES, strict=True)))
    small = proposals[::16, ::16]  # the same layout at 4×4
    result = label_regions(image, small, "water; river", clip, background=("rock", "sky"), templates=("{}",))
    assert result.mask.shape == (64, 64) and result.kept == [0, 2]
    with pytest.raises(ValueError, match="words is empty"):
        label_regions(image, proposals, " ; ", clip)
    with pytest.raises(ValueError, match="threshold"):
        label_regions(image, proposals, "water", clip, threshold=1.5)
    with pytest.raises(ValueError, match="integer tensor"):
        label_regions(image, proposals.float(), "water", clip)
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        label_regions(image[0], proposals, "water", clip)


def test_phrases_keep_spaces():
    assert parse_phrases("Water, hot  spring; sea, water") == ["water", "hot spring", "sea"]
