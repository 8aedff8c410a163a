"""Attention capture contract and the self-attention region-mask procedure (docs/pipeline.md#3-region-mask)."""

import math

import numpy as np
import pytest
import torch

from models.region.attention_capture import AttentionAccumulator, AttentionCapture
from models.region.attention_mask import (
    MaskParams,
    cluster_tokens,
    cross_attention_mask,
    erode_mask,
    mask_from_attention,
    mask_from_words,
    match_tokens,
    preview_overlay,
    principal_coordinates,
    refine_external_mask,
    resize_mask,
    select_segments,
    split_segments,
    upsample_labels,
)
from models.region.words import parse_words
from planted_attention import planted_capture

pytestmark = pytest.mark.numerics  # .ci/run reruns these under other CPU kernels


def planted_regions(gh: int, gw: int) -> torch.Tensor:
    """Five irregular regions: a wavy band, a disc, two vertical strips, and the rest."""
    yy, xx = torch.meshgrid(torch.arange(gh, dtype=torch.float32), torch.arange(gw, dtype=torch.float32),
                            indexing="ij")
    regions = torch.zeros(gh, gw, dtype=torch.int64)
    regions[xx < gw * 0.3] = 1
    regions[(xx >= gw * 0.3) & (xx < gw * 0.55)] = 2
    band = (yy - gh * 0.75 - 2 * torch.sin(xx / 3)).abs() < gh * 0.12
    regions[band] = 3
    disc = (yy - gh * 0.3) ** 2 + (xx - gw * 0.78) ** 2 < (min(gh, gw) * 0.18) ** 2
    regions[disc] = 4
    return regions


def same_partition(found: torch.Tensor, planted: torch.Tensor) -> bool:
    """Equal up to a relabelling: the pairs (planted, found) form a bijection."""
    pairs = {(int(a), int(b)) for a, b in zip(planted.reshape(-1), found.reshape(-1), strict=True)}
    return len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


@pytest.fixture(scope="module")
def square() -> tuple[AttentionCapture, torch.Tensor]:
    regions = planted_regions(32, 32)
    return planted_capture(regions, (512, 512), rows=16, seed=1), regions


# ------------------------------------------------------------------------------------------------ capture


def test_accumulator_mean_of_softmax_and_cross_maps():
    gen = torch.Generator().manual_seed(0)
    acc = AttentionAccumulator((4, 6), (64, 96))
    qs = [torch.randn(2, 3, 24, 8, generator=gen) for _ in range(3)]
    ks = [torch.randn(2, 3, 24, 8, generator=gen) for _ in range(3)]
    for q, k in zip(qs, ks, strict=True):
        acc.add_qk(q, k)
    expected = torch.stack([(q @ k.transpose(-1, -2) / math.sqrt(8)).softmax(-1) for q, k in zip(qs, ks, strict=True)])
    cross = torch.rand(2, 5, 24, 7, generator=gen)
    acc.add_cross_probs(cross)
    capture = acc.capture(tokens=[f"t{i}</w>" for i in range(7)])
    assert capture.steps == 3
    torch.testing.assert_close(capture.self_attn, expected.mean(0))
    torch.testing.assert_close(capture.cross_attn, cross.mean(1).transpose(1, 2).reshape(2, 7, 4, 6))


def test_accumulator_accepts_unbatched_and_rejects_bad_shapes():
    acc = AttentionAccumulator((2, 2), (16, 16))
    with pytest.raises(ValueError, match="no self-attention"):
        acc.capture()
    acc.add_probs(torch.full((3, 4, 4), 0.25))
    assert acc.capture().self_attn.shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match=r"\[B, R, 4, 4\]"):
        acc.add_probs(torch.full((3, 5, 5), 0.2))
    with pytest.raises(ValueError, match="differs from earlier"):
        acc.add_probs(torch.full((1, 2, 4, 4), 0.25))
    with pytest.raises(ValueError, match="same shape"):
        acc.add_qk(torch.zeros(3, 4, 8), torch.zeros(3, 4, 4))


def test_capture_validate_names_the_problem():
    good = torch.full((1, 2, 6, 6), 1 / 6)
    AttentionCapture(good, (2, 3), (32, 48)).validate()
    with pytest.raises(ValueError, match="N = gh\\*gw = 4"):
        AttentionCapture(good, (2, 2), (32, 32)).validate()
    with pytest.raises(TypeError, match="float32"):
        AttentionCapture(good.double(), (2, 3), (32, 48)).validate()
    with pytest.raises(ValueError, match="NaN"):
        AttentionCapture(good.clone().fill_(float("nan")), (2, 3), (32, 48)).validate()
    with pytest.raises(ValueError, match="aspect"):
        AttentionCapture(good, (2, 3), (48, 32)).validate()
    with pytest.raises(ValueError, match="tokens"):
        AttentionCapture(good, (2, 3), (32, 48), cross_attn=torch.zeros(1, 2, 2, 3), tokens=["a"]).validate()
    with pytest.raises(TypeError, match="pair of ints"):
        AttentionCapture(good, (2.0, 3), (32, 48)).validate()


# ------------------------------------------------------------------------------------------------ clustering


@pytest.mark.parametrize("method", ["kmeans", "spectral"])
def test_planted_clusters_are_recovered(square, method):
    capture, regions = square
    clusters = cluster_tokens(capture.self_attn[0], capture.grid, MaskParams(method=method, seed=3))
    assert clusters.shape == (32, 32)
    assert same_partition(clusters, regions)


@pytest.mark.parametrize("method", ["kmeans", "spectral"])
def test_non_square_grid_is_recovered(method):
    regions = planted_regions(20, 30)
    capture = planted_capture(regions, (320, 480), rows=8, seed=2)
    clusters = cluster_tokens(capture.self_attn[0], capture.grid, MaskParams(method=method))
    assert clusters.shape == (20, 30)
    assert same_partition(clusters, regions)


def test_full_pca_preserves_row_distances():
    capture = planted_capture(planted_regions(8, 10), (64, 80), rows=3, seed=4)
    attn = capture.self_attn[0]
    rows = attn.permute(1, 0, 2).reshape(80, -1).double()
    coords = torch.from_numpy(principal_coordinates(attn, None))
    torch.testing.assert_close(torch.cdist(coords, coords), torch.cdist(rows, rows), atol=1e-6, rtol=1e-4)


def test_clustering_is_seeded(square):
    capture, _ = square
    params = MaskParams(method="kmeans", n_clusters=8, seed=11)
    first = cluster_tokens(capture.self_attn[0], capture.grid, params)
    assert torch.equal(first, cluster_tokens(capture.self_attn[0], capture.grid, params))


def test_every_cluster_is_split_into_8_connected_segments():
    clusters = torch.zeros(6, 6, dtype=torch.int64)
    clusters[:, 2:4] = 1  # cluster 1 is a wall splitting cluster 0 in two
    clusters[4, 4] = 2
    clusters[5, 5] = 2  # diagonal neighbours: one 8-connected segment
    segments = split_segments(clusters)
    assert int(segments.max()) + 1 == 4  # cluster 0 left and right, cluster 1, cluster 2
    assert segments[0, 0] != segments[0, 5]
    assert segments[4, 4] == segments[5, 5]


def test_segment_ids_are_not_clipped_at_255():
    clusters = torch.zeros(40, 40, dtype=torch.int64)
    clusters[::2, ::2] = 1  # 400 isolated tokens of cluster 1
    segments = split_segments(clusters)
    assert int(segments.max()) + 1 == 401
    assert len(torch.unique(segments)) == 401


# ------------------------------------------------------------------------------------------------ selection


@pytest.mark.parametrize(("inside", "kept"), [(69, False), (70, True), (71, True)])
def test_threshold_is_an_inclusive_fraction_of_the_segment(inside, kept):
    segments = torch.zeros(10, 20, dtype=torch.int64)
    segments[:, 10:] = 1  # segment 1 has 100 pixels
    coarse = torch.zeros(10, 20, dtype=torch.bool)
    coarse.view(-1)[torch.nonzero(segments.view(-1) == 1)[:inside, 0]] = True
    ids, overlaps = select_segments(segments, coarse, 0.7)
    assert (1 in ids) is kept
    assert overlaps[1].item() == pytest.approx(inside / 100)
    assert 0 not in ids


def test_result_is_union_of_kept_segments_not_clipped_to_coarse(square):
    capture, regions = square
    disc = upsample_labels(regions, (512, 512)) == 4
    coarse = disc.clone()
    coarse[:, 460:] = False  # the coarse mask covers only part of the disc
    assert 0.7 < coarse.sum() / disc.sum() < 0.9
    result = mask_from_attention(capture, coarse.float(), MaskParams(method="kmeans"))
    assert result.mask.shape == (512, 512) and result.mask.dtype == torch.float32
    assert torch.equal(result.mask.bool(), disc)
    assert result.mask.sum() > coarse.sum()
    assert len(result.kept) == 1 and result.warnings == []
    assert result.overlaps[result.kept[0]] >= 0.7


def test_coarse_mask_at_any_resolution_of_the_same_aspect(square):
    capture, regions = square
    params = MaskParams(method="spectral")
    at_grid = mask_from_attention(capture, (regions == 3).float(), params)
    at_high = mask_from_attention(capture, upsample_labels(regions == 3, (1024, 1024)).float(), params)
    assert at_grid.mask.any()
    assert torch.equal(at_grid.mask, at_high.mask)
    with pytest.raises(ValueError, match="aspect ratio of the image"):
        mask_from_attention(capture, torch.ones(32, 48), params)


def test_non_square_rescale_and_aspect_error():
    regions = planted_regions(16, 24)
    capture = planted_capture(regions, (256, 384), rows=8, seed=5)
    params = MaskParams(method="kmeans")
    coarse = (regions == 1).float()
    native = mask_from_attention(capture, coarse, params)
    doubled = mask_from_attention(capture, coarse, params, image_size=(512, 768))
    assert native.mask.shape == (256, 384) and doubled.mask.shape == (512, 768)
    assert torch.equal(doubled.mask, upsample_labels(native.mask, (512, 768)))
    assert torch.equal(native.mask.bool(), upsample_labels(regions == 1, (256, 384)))
    with pytest.raises(ValueError, match="another aspect ratio"):
        mask_from_attention(capture, coarse, params, image_size=(512, 512))
    with pytest.raises(ValueError, match="batch_index"):
        mask_from_attention(capture, coarse, params, batch_index=1)


def test_warnings_for_empty_coarse_and_no_kept_segment(square):
    capture, regions = square
    empty = mask_from_attention(capture, torch.zeros(32, 32), MaskParams(method="kmeans"))
    assert not empty.mask.any() and "empty" in empty.warnings[0]
    sliver = torch.zeros(512, 512)
    sliver[:, :4] = 1
    weak = mask_from_attention(capture, sliver, MaskParams(method="kmeans"))
    assert not weak.mask.any() and "lower the threshold" in weak.warnings[0]


# ------------------------------------------------------------------------------------------------ erosion


def test_erosion_semantics():
    mask = torch.zeros(200, 200)
    mask[50:150, 50:150] = 1
    assert torch.equal(erode_mask(mask, 5, 0), mask)
    once = erode_mask(mask, 5, 1)
    assert torch.equal(torch.nonzero(once).amin(0), torch.tensor([52, 52]))
    assert torch.equal(torch.nonzero(once).amax(0), torch.tensor([147, 147]))
    assert once.sum() == 96 * 96
    assert erode_mask(mask, 3, 2).sum() == 96 * 96
    with pytest.raises(ValueError, match="odd"):
        erode_mask(mask, 4, 1)


def test_erosion_does_not_eat_from_the_frame_edge():
    mask = torch.zeros(50, 50)
    mask[:, :20] = 1
    eroded = erode_mask(mask, 5, 1)
    assert eroded[:, :18].all() and not eroded[:, 18:].any()


def test_mask_params_are_validated(square):
    capture, _ = square
    coarse = torch.ones(32, 32)
    for bad, match in [(MaskParams(method="dbscan"), "method"), (MaskParams(n_clusters=1), "n_clusters"),
                       (MaskParams(threshold=1.5), "threshold"), (MaskParams(erosion_ksize=4), "odd"),
                       (MaskParams(erosion_iter=-1), "erosion_iter"), (MaskParams(pca_dims=0), "pca_dims")]:
        with pytest.raises(ValueError, match=match):
            mask_from_attention(capture, coarse, bad)
    with pytest.raises(ValueError, match="0..1"):
        mask_from_attention(capture, coarse * 255, MaskParams())
    with pytest.raises(TypeError, match="bool or float"):
        resize_mask(torch.ones(4, 4, dtype=torch.uint8), (8, 8))


def test_external_mask_pass_through_and_refinement(square):
    capture, regions = square
    soft = torch.zeros(64, 64)
    soft[10:30, 10:30] = 0.8
    soft[40:50, 40:50] = 0.3
    passed = refine_external_mask(soft, image_size=(128, 128))
    assert passed.segments is None and passed.mask.shape == (128, 128)
    assert torch.equal(passed.mask, upsample_labels((soft >= 0.5).float(), (128, 128)))
    assert "passed through" in passed.warnings[0]
    coarse = (regions == 2).float()
    refined = refine_external_mask(coarse, capture, MaskParams(method="kmeans"))
    assert torch.equal(refined.mask, mask_from_attention(capture, coarse, MaskParams(method="kmeans")).mask)


# ------------------------------------------------------------------------------------------------ cross-attention

PROMPT = ["<|startoftext|>", "a</w>", "large</w>", "water", "falls</w>", "falling</w>", "from</w>", "hills</w>",
          "<|endoftext|>"]


def cross_capture(square_capture: AttentionCapture, regions: torch.Tensor, tokens: list[str]) -> AttentionCapture:
    """Cross maps: tokens 3 and 4 ("water"+"falls") light up region 2, token 7 ("hills") region 1, others noise."""
    gen = torch.Generator().manual_seed(7)
    maps = 0.2 * torch.rand(1, len(tokens), *regions.shape, generator=gen)
    maps[0, 3] += (regions == 2).float()
    maps[0, 4] += 0.5 * (regions == 2).float()
    maps[0, 7] += (regions == 1).float()
    return AttentionCapture(square_capture.self_attn, square_capture.grid, square_capture.image_size,
                            cross_attn=maps, tokens=tokens)


def test_word_parsing_and_token_matching():
    assert parse_words("Water, waterfall; river  sea") == ["water", "waterfall", "river", "sea"]
    assert parse_words(["sky", "sky"]) == ["sky"]
    with pytest.raises(ValueError, match="empty"):
        parse_words(" ,; ")
    assert match_tokens(PROMPT, "waterfall") == {"waterfall": [3, 4]}
    assert match_tokens(PROMPT, ["waterfalls", "hill"]) == {"waterfalls": [3, 4], "hill": [7]}
    assert match_tokens(["the", "skies"], "sky") == {"sky": [1]}  # plain words, no BPE markers
    assert match_tokens(PROMPT, "water") == {}  # "water" is only part of "waterfalls"


def test_cross_attention_coarse_mask(square):
    capture, regions = square
    captured = cross_capture(capture, regions, PROMPT)
    coarse = cross_attention_mask(captured, "waterfall")
    assert torch.equal(coarse.mask.bool(), regions == 2) and coarse.warnings == []
    both = cross_attention_mask(captured, "waterfalls, hills, ocean")
    assert torch.equal(both.mask.bool(), (regions == 1) | (regions == 2))
    assert "ocean" in both.warnings[0]
    none = cross_attention_mask(captured, "ocean")
    assert not none.mask.any() and "no word was found" in none.warnings[-1]
    with pytest.raises(ValueError, match="no cross-attention"):
        cross_attention_mask(capture, "water")


def test_mask_from_words_end_to_end(square):
    capture, regions = square
    result = mask_from_words(cross_capture(capture, regions, PROMPT), "waterfall", MaskParams(method="kmeans"))
    assert torch.equal(result.mask.bool(), upsample_labels(regions == 2, (512, 512)))


# ------------------------------------------------------------------------------------------------ preview


def test_preview_tints_labels_and_outlines_mask():
    image = torch.full((3, 64, 96), 0.5)
    labels = torch.zeros(4, 6, dtype=torch.int64)
    labels[:, 3:] = 1
    mask = torch.zeros(4, 6)
    mask[1:3, 1:3] = 1
    out = preview_overlay(image, labels, mask)
    assert out.shape == image.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out[:, 0, 0], out[:, 0, 95])  # two labels, two tints
    edge = (out == 1.0).all(dim=0)
    assert edge[16, 16:48].all() and edge[16:48, 16].all() and not edge[32, 32]
    plain = preview_overlay(image, None, torch.zeros(4, 6))
    assert torch.equal(plain, image)
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        preview_overlay(image[0], None, mask)


def test_planted_capture_rows_are_distributions():
    capture = planted_capture(torch.zeros(3, 3, dtype=torch.int64), (48, 48), rows=2)
    assert np.allclose(capture.self_attn.sum(-1).numpy(), 1.0, atol=1e-5)
