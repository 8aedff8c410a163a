"""T2C_RegionMask inside the real ComfyUI: each backend's contract, auto selection, previews and bad input."""

import pytest
import torch

from models.region.attention_capture import AttentionCapture
from planted_attention import planted_capture


def _run(nodes, **kwargs):
    args = dict(words="water, waterfall", backend="auto", n_clusters=3, cluster_type="spectral", threshold=0.7,
                erosion_ksize=5, erosion_iterations=0)
    args.update(kwargs)
    return nodes["T2C_RegionMask"].execute(**args).result


def _planted(image_size=(128, 128)):
    """A 16×16 token grid with three planted regions: top band, bottom-left water, bottom-right rock."""
    regions = torch.zeros(16, 16, dtype=torch.int64)
    regions[8:, :10] = 1
    regions[8:, 10:] = 2
    capture = planted_capture(regions, image_size, rows=4)
    cross = torch.zeros(1, 3, 16, 16)
    cross[0, 1] = (regions == 1).float() + 0.05 * torch.rand(16, 16, generator=torch.Generator().manual_seed(0))
    cross[0, 2] = torch.rand(16, 16, generator=torch.Generator().manual_seed(1))
    return AttentionCapture(capture.self_attn, capture.grid, capture.image_size, cross,
                            ["<|startoftext|>", "waterfall</w>", "rocks</w>"], steps=1).validate(), regions


def _expected(regions, size=128):
    return torch.nn.functional.interpolate((regions == 1).float()[None, None], size=(size, size))[0, 0]


def test_cross_attention_backend_recovers_the_water_segment(t2c_nodes):
    capture, regions = _planted()
    image = torch.rand(1, 128, 128, 3)
    mask, preview, info = _run(t2c_nodes, image=image, attention=capture, backend="cross-attention")
    assert mask.shape == (1, 128, 128) and preview.shape == (1, 128, 128, 3)
    assert torch.equal(mask[0], _expected(regions)) and "cross-attention" in info


def test_auto_prefers_a_painted_mask_and_refines_it_with_attention(t2c_nodes):
    capture, regions = _planted()
    painted = _expected(regions)[None].clone()
    painted[:, 64:70, 0:20] = 0  # a sloppy brush: the attention segment fills the gap back in
    mask, _, info = _run(t2c_nodes, image=torch.rand(1, 128, 128, 3), attention=capture, mask=painted)
    assert "backend: mask (auto)" in info and torch.equal(mask[0], _expected(regions))
    passed = _run(t2c_nodes, image=torch.rand(1, 128, 128, 3), mask=painted)[0]
    assert torch.equal(passed, painted), "without attention the painted mask passes through"


def test_no_word_matches_gives_an_empty_mask_and_a_warning(t2c_nodes):
    capture, _ = _planted()
    mask, _, info = _run(t2c_nodes, image=torch.rand(1, 128, 128, 3), attention=capture, backend="cross-attention",
                         words="smoke")
    assert not mask.any() and "not found" in info and "still loop" in info


def test_clip_backend_without_weights_names_the_file_and_folder(t2c_nodes):
    with pytest.raises(FileNotFoundError, match="models/text2cinemagraph/clip"):
        _run(t2c_nodes, image=torch.rand(1, 64, 64, 3), backend="clip")


def test_odise_backend_without_odise_explains_how_to_install(t2c_nodes):
    with pytest.raises(ImportError, match="detectron2"):
        _run(t2c_nodes, image=torch.rand(1, 64, 64, 3), backend="odise")


def test_auto_with_nothing_connected_is_a_clear_error(t2c_nodes):
    with pytest.raises(ValueError, match="nothing to work with"):
        _run(t2c_nodes, image=torch.rand(1, 64, 64, 3))


def test_empty_words_is_a_validation_error(t2c_nodes):
    assert "empty" in t2c_nodes["T2C_RegionMask"].validate_inputs(words=" , ")
    assert t2c_nodes["T2C_RegionMask"].validate_inputs(words="water") is True


def test_attention_from_another_aspect_is_a_clear_error(t2c_nodes):
    capture, _ = _planted()
    with pytest.raises(ValueError, match="aspect"):
        _run(t2c_nodes, image=torch.rand(1, 64, 128, 3), attention=capture, backend="cross-attention")


def test_clip_backend_with_weights_in_the_model_folder(t2c_nodes, tmp_path, monkeypatch):
    """A real-architecture ViT-B-32 with random weights, saved where users put theirs, labels proposals."""
    import folder_paths
    import open_clip
    from safetensors.torch import save_file

    from text2cinemagraph.nodes import region

    (tmp_path / "clip").mkdir()
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(tmp_path / "clip" / "open_clip_model.safetensors"))
    paths, _ = folder_paths.folder_names_and_paths["text2cinemagraph"]
    monkeypatch.setattr(folder_paths, "folder_names_and_paths",
                        {**folder_paths.folder_names_and_paths, "text2cinemagraph": ([str(tmp_path)], set())})
    region._clip.cache_clear()
    try:
        image = torch.rand(1, 96, 128, 3, generator=torch.Generator().manual_seed(0))
        mask, preview, info = _run(t2c_nodes, image=image, backend="auto")
        assert "backend: clip (auto)" in info
        assert mask.shape == (1, 96, 128) and set(mask.unique().tolist()) <= {0.0, 1.0}
        again = _run(t2c_nodes, image=image, backend="clip")[0]
        assert torch.equal(mask, again), "the same image and weights must give the same mask"
    finally:
        region._clip.cache_clear()
    assert paths  # the real registration is untouched
