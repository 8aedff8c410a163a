"""The three official networks (golden-filled weights in the server's model folder) in one workflow:
CLIPTextEncode → Text Flow (text network) and Text Flow (direction-hint network) → Animate (video network)."""

import shutil

import imageio.v3 as iio
import pytest
from comfy_server import REPO_ROOT
from standin_weights import NETWORK_FILES


@pytest.fixture(scope="module")
def network_files(comfy_server, official_networks, clip_l_encoder):
    shutil.copy(REPO_ROOT / "assets" / "sample_painting.png", comfy_server.input_dir / "sample_painting.png")
    return official_networks


def _flow_branch(prefix, loader, text_flow_extra, save_prefix):
    return {
        f"{prefix}loader": {"class_type": "T2C_FlowModelLoader", "inputs": {"weights": loader}},
        f"{prefix}flow": {"class_type": "T2C_TextFlow", "inputs": {
            "image": ["scaled", 0], "mask": ["load", 1], "text": "a river flowing in upwards direction",
            "direction": "auto (from text)", "angle": 0.0, "strength": 0.0, "seed": 0, "arrows": "",
            "hint_px_per_frame": 4.0, "flow_model": [f"{prefix}loader", 0], **text_flow_extra}},
        f"{prefix}animate": {"class_type": "T2C_Animate", "inputs": {
            "image": ["scaled", 0], "flow": [f"{prefix}flow", 0], "frames": 4, "speed": 0.5, "max_px_per_frame": 0.0,
            "integration": "round", "video_model": ["video", 0]}},
        f"{prefix}save": {"class_type": "T2C_SaveCinemagraph", "inputs": {
            "frames": [f"{prefix}animate", 0], "filename_prefix": save_prefix, "fps": 30.0, "format": "mp4",
            "quality": 80, "pingpong": False}},
    }


def test_three_networks_in_one_workflow(comfy_server, network_files, clip_l_encoder):
    prompt = {
        "load": {"class_type": "LoadImage", "inputs": {"image": "sample_painting.png"}},
        "scaled": {"class_type": "ImageScale", "inputs": {"image": ["load", 0], "upscale_method": "bilinear",
                                                          "width": 256, "height": 256, "crop": "center"}},
        "clip": {"class_type": "CLIPLoader", "inputs": {"clip_name": clip_l_encoder.name,
                                                        "type": "stable_diffusion"}},
        "encode": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["clip", 0], "text": "a waterfall"}},
        "video": {"class_type": "T2C_VideoModelLoader", "inputs": {"weights": NETWORK_FILES["splat_video"]}},
        **_flow_branch("text_", NETWORK_FILES["text_flow"], {"conditioning": ["encode", 0]}, "networks/text"),
        **_flow_branch("hint_", NETWORK_FILES["hint_flow"], {}, "networks/hint"),
    }
    entry = comfy_server.run_prompt(prompt, timeout=900)
    files = sorted(comfy_server.output_files(entry))
    assert [f.name.split("_")[0] for f in files] == ["hint", "text"]
    for path in files:
        frames = iio.imread(path, plugin="pyav")  # mp4: every frame kept (webp/gif merge identical frames)
        assert frames.shape == (4, 256, 256, 3)
