"""Loader nodes in the real ComfyUI: golden-filled official networks saved as .pth / .safetensors in the
model folder load strictly, drive Text Flow and Animate, and wrong files give clear errors."""

import folder_paths
import pytest
import torch
from safetensors.torch import save_file

from golden_fill import golden_fill_
from models.networks import HintFlowNet, SplatVideoNet, TextFlowNet


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """models/text2cinemagraph/ with the official folder layout, as a user unpacks checkpoints.tar."""
    root = tmp_path_factory.mktemp("t2c-models")
    hint = golden_fill_(HintFlowNet()).state_dict()
    (root / "motion-direction-pretrained").mkdir()
    torch.save({f"module.{k}": v for k, v in hint.items()}, root / "motion-direction-pretrained" / "latest_net_G.pth")
    video = golden_fill_(SplatVideoNet()).state_dict()
    save_file({k: v.contiguous() for k, v in video.items()}, str(root / "video.safetensors"))
    torch.save(video, root / "video.pth")
    truncated = (root / "video.pth").read_bytes()
    (root / "broken.pth").write_bytes(truncated[: len(truncated) // 2])
    return root


@pytest.fixture()
def model_folder(weights_dir, monkeypatch):
    monkeypatch.setitem(folder_paths.folder_names_and_paths, "text2cinemagraph",
                        ([str(weights_dir)], {".safetensors", ".pth", ".pt"}))
    monkeypatch.setattr(folder_paths, "filename_list_cache", {})
    return weights_dir


def _load(nodes, node_id, name):
    return nodes[node_id].execute(weights=name).result[0]


def test_combo_lists_the_weights_in_the_model_folder(t2c_nodes, model_folder):
    options = t2c_nodes["T2C_FlowModelLoader"].define_schema().inputs[0].options
    assert "motion-direction-pretrained/latest_net_G.pth" in options and "video.safetensors" in options


def test_hint_network_drives_text_flow(t2c_nodes, model_folder):
    flow_model = _load(t2c_nodes, "T2C_FlowModelLoader", "motion-direction-pretrained/latest_net_G.pth")
    assert flow_model.kind == "hint_flow"
    image = torch.rand(1, 256, 256, 3, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 256, 256)
    mask[:, 96:224, 32:224] = 1
    flow, preview, info = t2c_nodes["T2C_TextFlow"].execute(
        image=image, mask=mask, text="a river flowing in left to right direction", direction="auto (from text)",
        angle=0.0, strength=0.0, seed=0, arrows="", hint_px_per_frame=64.0, flow_model=flow_model).result
    assert flow.shape == (1, 2, 256, 256) and torch.isfinite(flow).all()
    assert torch.count_nonzero(flow[:, :, mask[0] < 0.5]) == 0 and flow.abs().max() > 0
    assert "direction-hint network" in info and "hint at 0.0°" in info
    peak = float(flow.abs().max())
    assert peak > 1.0, "golden-filled weights saturate the tanh: the flow peaks near 64 px/frame"
    assert f"peaks at {peak:.1f} px/frame" in info and "max_px_per_frame to 1" in info
    assert preview.shape == (1, 256, 256, 3)


@pytest.mark.parametrize("name", ["video.safetensors", "video.pth"])
def test_video_network_animates_through_the_animate_node(t2c_nodes, model_folder, name):
    video_model = _load(t2c_nodes, "T2C_VideoModelLoader", name)
    assert video_model.kind == "splat_video"
    image = torch.rand(1, 30, 42, 3, generator=torch.Generator().manual_seed(1))  # not a multiple of 4
    flow = torch.zeros(1, 2, 30, 42)
    flow[:, 0, 10:20, 10:30] = 3.0
    frames = t2c_nodes["T2C_Animate"].execute(image=image, flow=flow, frames=4, speed=0.5, max_px_per_frame=0.0,
                                              integration="round", video_model=video_model).result[0]
    assert frames.shape == (4, 30, 42, 3) and torch.isfinite(frames).all()
    assert 0 <= frames.min() and frames.max() <= 1


def test_wrong_network_and_truncated_file_name_the_file(t2c_nodes, model_folder):
    with pytest.raises(ValueError, match=r"video\.safetensors.*(hint|text)"):
        _load(t2c_nodes, "T2C_FlowModelLoader", "video.safetensors")
    with pytest.raises(ValueError, match="latest_net_G.pth"):
        _load(t2c_nodes, "T2C_VideoModelLoader", "motion-direction-pretrained/latest_net_G.pth")
    with pytest.raises((ValueError, RuntimeError), match="broken.pth"):
        _load(t2c_nodes, "T2C_VideoModelLoader", "broken.pth")


def test_text_network_needs_sd1_conditioning(t2c_nodes, tmp_path, monkeypatch):
    """Network A (320M parameters) strictly from .safetensors, then Text Flow with an SD1.x-shaped conditioning."""
    network = golden_fill_(TextFlowNet())
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(tmp_path / "motion.safetensors"))
    del network
    monkeypatch.setitem(folder_paths.folder_names_and_paths, "text2cinemagraph", ([str(tmp_path)], {".safetensors"}))
    monkeypatch.setattr(folder_paths, "filename_list_cache", {})
    flow_model = _load(t2c_nodes, "T2C_FlowModelLoader", "motion.safetensors")
    assert flow_model.kind == "text_flow"
    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(2))
    mask = torch.zeros(1, 64, 64)
    mask[:, 16:48, 16:48] = 1
    args = dict(image=image, mask=mask, text="water", direction="auto (from text)", angle=0.0, strength=0.0, seed=0,
                arrows="", hint_px_per_frame=64.0, flow_model=flow_model)
    with pytest.raises(ValueError, match="CLIPTextEncode"):
        t2c_nodes["T2C_TextFlow"].execute(**args)
    context = torch.randn(1, 77, 768, generator=torch.Generator().manual_seed(3))
    flow, _, info = t2c_nodes["T2C_TextFlow"].execute(**args, conditioning=[[context, {}]]).result
    assert flow.shape == (1, 2, 64, 64) and torch.isfinite(flow).all() and "text flow network" in info
    assert torch.count_nonzero(flow[:, :, mask[0] < 0.5]) == 0
    assert flow.abs().max() <= 64.0  # tanh output × 64 px/frame


def test_a_non_checkpoint_through_a_symlink_names_the_file(t2c_nodes, model_folder):
    (model_folder / "notes.txt").write_text("not weights")
    (model_folder / "notes.pth").symlink_to(model_folder / "notes.txt")
    try:
        with pytest.raises(ValueError, match=r"notes\.pth.*cannot be read as a safe checkpoint"):
            _load(t2c_nodes, "T2C_VideoModelLoader", "notes.pth")
    finally:
        (model_folder / "notes.pth").unlink()
        (model_folder / "notes.txt").unlink()


def test_a_list_for_weights_names_weights(t2c_nodes, model_folder):
    """A raw list sent through the API (issue 22, item 9) was a TypeError from os.path.join."""
    with pytest.raises(ValueError, match=r"Load Video Model: `weights` must be a file name"):
        _load(t2c_nodes, "T2C_VideoModelLoader", ["video.pth"])
