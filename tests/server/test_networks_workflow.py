"""The three official networks (golden-filled weights in the server's model folder) in one workflow:
CLIPTextEncode → Text Flow (text network) and Text Flow (direction-hint network) → Animate (video network)."""

import shutil

import imageio.v3 as iio
import pytest
import torch
from comfy_server import REPO_ROOT
from safetensors.torch import save_file

from models.networks import HintFlowNet, SplatVideoNet, TextFlowNet, golden_fill_


def _random_clip_l(path):
    """An SD1.x CLIP-L text encoder (HF layout, random weights) that ComfyUI's CLIPLoader accepts."""
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    config = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                            num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu")
    state = CLIPTextModel(config).half().state_dict()
    # transformers 5 dropped the "text_model." prefix that ComfyUI's SD1 CLIP detection looks for.
    state = {k if k.startswith("text_model.") else f"text_model.{k}": v.contiguous() for k, v in state.items()}
    save_file(state, str(path))


@pytest.fixture(scope="module")
def network_files(comfy_server):
    folder = comfy_server.models_dir / "text2cinemagraph"
    for name, network in (("motion.safetensors", TextFlowNet), ("direction.safetensors", HintFlowNet),
                          ("video.safetensors", SplatVideoNet)):
        state = golden_fill_(network()).state_dict()
        save_file({k: v.contiguous() for k, v in state.items()}, str(folder / name))
        del state
    _random_clip_l(comfy_server.models_dir / "text_encoders" / "clip_l_random.safetensors")
    shutil.copy(REPO_ROOT / "assets" / "sample_painting.png", comfy_server.input_dir / "sample_painting.png")
    return folder


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


def test_three_networks_in_one_workflow(comfy_server, network_files):
    prompt = {
        "load": {"class_type": "LoadImage", "inputs": {"image": "sample_painting.png"}},
        "scaled": {"class_type": "ImageScale", "inputs": {"image": ["load", 0], "upscale_method": "bilinear",
                                                          "width": 256, "height": 256, "crop": "center"}},
        "clip": {"class_type": "CLIPLoader", "inputs": {"clip_name": "clip_l_random.safetensors",
                                                        "type": "stable_diffusion"}},
        "encode": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["clip", 0], "text": "a waterfall"}},
        "video": {"class_type": "T2C_VideoModelLoader", "inputs": {"weights": "video.safetensors"}},
        **_flow_branch("text_", "motion.safetensors", {"conditioning": ["encode", 0]}, "networks/text"),
        **_flow_branch("hint_", "direction.safetensors", {}, "networks/hint"),
    }
    entry = comfy_server.run_prompt(prompt, timeout=900)
    files = sorted(comfy_server.output_files(entry))
    assert [f.name.split("_")[0] for f in files] == ["hint", "text"]
    for path in files:
        frames = iio.imread(path, plugin="pyav")  # mp4: every frame kept (webp/gif merge identical frames)
        assert frames.shape == (4, 256, 256, 3)
