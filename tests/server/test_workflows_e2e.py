"""Every bundled workflow end to end through the real server, with stand-in weights (standin_weights.py): a random
full-size SD1.5 checkpoint saved under the name the workflows select, golden-filled official networks at the
paths of the official checkpoints.tar, and the sample painting.

CPU time: each UI workflow is converted with ``to_api`` exactly as the frontend would queue it, then shrunk by
:func:`shrink` — sampler steps 2 (with a painting: inversion + sampling), Empty Latent 128×128 (a 16×16 latent,
which SD1.5's UNet halves three times down to 2×2), the painting's 192×128 copy, Animate 8 frames. Wiring and every
other widget value are the files' own. :func:`inspect` adds read-only nodes: Preview Any on each ``info`` output
and Mask To Image → Save Image on Region Mask's mask.
"""

import json

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
from comfy_server import REPO_ROOT
from standin_weights import SD15_CHECKPOINT
from workflow_api import to_api

WORKFLOWS = sorted((REPO_ROOT / "workflows").glob("*.json"), key=lambda p: (p.stem.removesuffix("_official_networks"),
                                                                            p.stem))
"""Each "… official networks" variant right after its learning-free twin: they share the text-to-image part with the
same inputs, which the server then takes from its cache instead of sampling the same images again."""
STEPS, LATENT_PX, FRAMES = 2, 128, 8
PAINTING, PAINTING_STEP = "sample_painting_quarter.png", 4
PAINTING_SIZE = (128, 192)  # (height, width) of PAINTING


@pytest.fixture(scope="module")
def standins(comfy_server, sd15_checkpoint, official_networks):
    """The stand-in weights, and the sample painting at a quarter of its size (alpha = its painted water mask)."""
    pixels = iio.imread(REPO_ROOT / "assets" / "sample_painting.png")
    iio.imwrite(comfy_server.input_dir / PAINTING, pixels[::PAINTING_STEP, ::PAINTING_STEP])
    return sd15_checkpoint


def shrink(prompt: dict) -> dict:
    """Cheaper sizes and counts for 2 CPU cores (see the module docstring); the graph is left as it is."""
    for node in prompt.values():
        inputs, kind = node["inputs"], node["class_type"]
        if kind == "T2C_TwinSampler":
            inputs["steps"] = STEPS
        elif kind == "EmptyLatentImage":
            inputs.update(width=LATENT_PX, height=LATENT_PX)
        elif kind == "LoadImage" and inputs["image"] == "sample_painting.png":
            inputs["image"] = PAINTING
        elif kind == "T2C_Animate":
            inputs["frames"] = FRAMES
    return prompt


def inspect(prompt: dict) -> dict:
    """Add Preview Any on every info output and save Region Mask's mask as an image (keys ``insp_*``)."""
    for node_id, node in list(prompt.items()):
        if node["class_type"] in ("T2C_RegionMask", "T2C_TextFlow"):
            prompt[f"insp_info_{node_id}"] = {"class_type": "PreviewAny", "inputs": {"source": [node_id, 2]}}
        if node["class_type"] == "T2C_RegionMask":
            prompt[f"insp_mask_{node_id}"] = {"class_type": "MaskToImage", "inputs": {"mask": [node_id, 0]}}
            prompt[f"insp_save_{node_id}"] = {"class_type": "SaveImage", "inputs": {
                "images": [f"insp_mask_{node_id}", 0], "filename_prefix": f"e2e/mask_{node_id}"}}
    return prompt


class Run:
    """A finished prompt: the UI workflow, its API prompt, and what each node left behind."""

    def __init__(self, server, workflow: dict, prompt: dict, entry: dict):
        self.server, self.workflow, self.prompt, self.entry = server, workflow, prompt, entry

    def node_ids(self, class_type: str) -> list[str]:
        return [node_id for node_id, node in self.prompt.items() if node["class_type"] == class_type]

    def titled(self, title: str) -> str:
        found = [str(node["id"]) for node in self.workflow["nodes"] if node.get("title") == title]
        assert len(found) == 1, f"no single node titled {title!r}"
        return found[0]

    def images(self, node_id: str) -> list[np.ndarray]:
        outputs = {node_id: self.entry["outputs"].get(node_id, {})}
        return [iio.imread(path) for path in self.server.output_files({"outputs": outputs})]

    def text(self, node_id: str) -> str:
        return "\n".join(self.entry["outputs"][f"insp_info_{node_id}"]["text"])

    def loop(self) -> np.ndarray:
        (save,) = self.node_ids("T2C_SaveCinemagraph")
        videos = self.server.output_files({"outputs": {save: self.entry["outputs"][save]}})
        assert len(videos) == 1 and videos[0].suffix == ".mp4" and videos[0].stat().st_size > 0, videos
        return iio.imread(videos[0], plugin="pyav")  # mp4 keeps every frame (gif/webp merge identical ones)


def run_workflow(server, path) -> Run:
    workflow = json.loads(path.read_text())
    prompt = inspect(shrink(to_api(workflow, server.get("/object_info"))))
    return Run(server, workflow, prompt, server.run_prompt(prompt, timeout=900))


def _picture(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    assert image.shape[:2] == size and image.shape[-1] in (3, 4), image.shape
    assert image[..., :3].std() > 2.0, "a flat image: the decoder produced nothing"
    return image[..., :3].astype(int)


def _check_mask_and_motion(run: Run, loop: np.ndarray) -> None:
    """A non-empty mask must move the loop; an empty one is the documented fallback: a still loop + warning."""
    (region,) = run.node_ids("T2C_RegionMask")
    info = run.text(region)
    assert info.startswith("backend: cross-attention (auto)"), info  # no ODISE, no CLIP weights: the twin's words
    (mask,) = run.images(f"insp_save_{region}")
    moved = np.abs(loop.astype(int) - loop[:1].astype(int)).mean(axis=(1, 2, 3)).max()
    if (mask[..., 0] > 127).any():
        assert moved > 0.5, f"a {int((mask[..., 0] > 127).mean() * 100)} % mask but the loop does not move"
    else:
        assert "the mask is empty, so Animate will make a still loop" in info
        assert moved < 1.0, "an empty mask must give a still loop"


def check_text_workflow(run: Run, flow_info: str, video_network: bool = False) -> None:
    """``video_network``: Animate renders with the stand-in (golden-filled, random) video network, whose frames
    show no meaningful motion, so only that it rendered the loop is checked (tests/server/test_networks_workflow.py
    checks the network path itself)."""
    artistic = _picture(run.images(run.titled("Artistic image"))[0], (LATENT_PX, LATENT_PX))
    twin = _picture(run.images(run.titled("Realistic twin"))[0], (LATENT_PX, LATENT_PX))
    assert np.abs(artistic - twin).mean() > 1.0, "the twin is the artistic image: its prompt was not used"
    _picture(run.images(run.titled("Flow preview"))[0], (LATENT_PX, LATENT_PX))
    (text_flow,) = run.node_ids("T2C_TextFlow")
    assert flow_info in run.text(text_flow)
    loop = run.loop()
    assert loop.shape == (FRAMES, LATENT_PX, LATENT_PX, 3)
    if video_network:
        (animate,) = run.node_ids("T2C_Animate")
        assert run.prompt[animate]["inputs"].get("video_model"), "the video network is not connected"
        assert loop.std() > 1.0, "the video network rendered a flat loop"
        return
    _check_mask_and_motion(run, loop)


def check_painting_with_twin(run: Run) -> None:
    twin = _picture(run.images(run.titled("Realistic twin"))[0], PAINTING_SIZE)
    painting = iio.imread(run.server.input_dir / PAINTING)[..., :3].astype(int)
    (text_flow,) = run.node_ids("T2C_TextFlow")
    assert "learning-free engine" in run.text(text_flow)
    loop = run.loop()
    assert loop.shape == (FRAMES, *PAINTING_SIZE, 3)
    # The ORIGINAL painting is animated, not the (random-weight) twin: the first frame is the painting (up to the
    # mp4's chroma subsampling of its brush texture, about 7/255 on average), far from the twin (about 70/255).
    assert np.abs(loop[0].astype(int) - painting).mean() < 12.0
    assert np.abs(loop[0].astype(int) - twin).mean() > 40.0
    _check_mask_and_motion(run, loop)


def check_animate_painting(run: Run) -> None:
    loop = run.loop()
    assert loop.shape == (FRAMES, *PAINTING_SIZE, 3)
    assert np.abs(loop.astype(int) - loop[:1].astype(int)).mean() > 0.5, "the painted water should move"


def check_text_layers(run: Run) -> None:
    """Water on top of sky: the water's Text Flow lists both layers (or says its stand-in mask came out empty)."""
    sky, water = run.titled("Text Flow (sky)"), run.titled("Text Flow (water)")
    info = run.text(water)
    assert f"layer 1: Text Flow #{sky}, border " in info, info
    assert f"layer 2: Text Flow #{water}, border " in info or "the mask is empty, so this layer was left out" in info
    assert run.loop().shape == (FRAMES, LATENT_PX, LATENT_PX, 3)


def check_animate_painting_layers(run: Run) -> None:
    names = ("waterfall", "lake", "sky")
    info = run.text(run.titled("Text Flow (sky)"))
    for index, name in enumerate(names):
        assert f"layer {index + 1}: Text Flow #{run.titled(f'Text Flow ({name})')}, border " in info, info
    loop = run.loop()
    assert loop.shape == (FRAMES, *PAINTING_SIZE, 3)
    layers = iio.imread(REPO_ROOT / "assets" / "sample_painting_layers.png")
    regions = np.stack([cv2.resize(layers[..., c], PAINTING_SIZE[::-1], interpolation=cv2.INTER_AREA) > 200
                        for c in range(3)])
    motion = np.abs(loop.astype(int) - loop[:1].astype(int)).mean(axis=-1).max(axis=0)
    for name, region in zip(names, regions, strict=True):
        assert motion[region].mean() > 1.0, f"the {name} layer should move"


CHECKS = {
    "text_to_cinemagraph": lambda run: check_text_workflow(run, "learning-free engine; motion from prior: waterfall"),
    "text_to_cinemagraph_official_networks": lambda run: check_text_workflow(
        run, "text flow network (motion-pretrained/latest_net_G.pth)", video_network=True),
    "text_direction": lambda run: check_text_workflow(run, "learning-free engine; motion from"),
    "text_direction_official_networks": lambda run: check_text_workflow(
        run, "direction-hint network (motion-direction-pretrained/latest_net_G.pth); hint at 270.0°",
        video_network=True),
    "painting_with_twin": check_painting_with_twin,
    "animate_painting": check_animate_painting,
    "animate_painting_layers": check_animate_painting_layers,
    "text_to_cinemagraph_layers": check_text_layers,
}


def test_every_bundled_workflow_has_end_to_end_checks():
    assert sorted(CHECKS) == sorted(path.stem for path in WORKFLOWS)


def test_sd15_checkpoint_twin_sampler_and_both_decodes(comfy_server, standins):
    """Checkpoint (stock loader, random SD1.5 safetensors) → prompts → T2C_TwinSampler → VAEDecode ×2."""
    encode = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["ckpt", 1]}}
    prompt = {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": SD15_CHECKPOINT}},
        "prompts": {"class_type": "T2C_TwinPrompt", "inputs": {
            "prompt": "a large waterfall falling from hills during sunset in the style of Leonid Afremov",
            "twin_prompt": ""}},
        "artistic_text": {**encode, "inputs": {**encode["inputs"], "text": ["prompts", 0]}},
        "twin_text": {**encode, "inputs": {**encode["inputs"], "text": ["prompts", 1]}},
        "empty_text": {**encode, "inputs": {**encode["inputs"], "text": ""}},
        "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": LATENT_PX, "height": LATENT_PX,
                                                                "batch_size": 1}},
        "sampler": {"class_type": "T2C_TwinSampler", "inputs": {
            "model": ["ckpt", 0], "positive": ["artistic_text", 0], "twin_positive": ["twin_text", 0],
            "unconditional": ["empty_text", 0], "latent": ["latent", 0], "seed": 23, "steps": STEPS, "cfg": 5.0,
            "twin_cfg": 7.5, "sampler_name": "ddim", "scheduler": "ddim_uniform", "attention_injection": 0.52,
            "feature_injection": 0.82, "negative_alpha": 0.75, "prompt": ["prompts", 0]}},
        "decode_artistic": {"class_type": "VAEDecode", "inputs": {"samples": ["sampler", 0], "vae": ["ckpt", 2]}},
        "decode_twin": {"class_type": "VAEDecode", "inputs": {"samples": ["sampler", 1], "vae": ["ckpt", 2]}},
        "save_artistic": {"class_type": "SaveImage", "inputs": {"images": ["decode_artistic", 0],
                                                                "filename_prefix": "e2e/sd15_artistic"}},
        "save_twin": {"class_type": "SaveImage", "inputs": {"images": ["decode_twin", 0],
                                                            "filename_prefix": "e2e/sd15_twin"}},
    }
    run = Run(comfy_server, {"nodes": []}, prompt, comfy_server.run_prompt(prompt, timeout=900))
    (artistic,), (twin,) = run.images("save_artistic"), run.images("save_twin")
    artistic, twin = _picture(artistic, (LATENT_PX, LATENT_PX)), _picture(twin, (LATENT_PX, LATENT_PX))
    assert np.abs(artistic - twin).mean() > 1.0, "artistic and twin must differ (different prompts)"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_bundled_workflow_end_to_end(comfy_server, standins, path):
    CHECKS[path.stem](run_workflow(comfy_server, path))
