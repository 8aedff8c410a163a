"""Bundled workflows through the real server: listed in the template browser, and run end to end."""

import json
import os

import imageio.v3 as iio
import pytest
from build_workflows import build_all
from comfy_server import REPO_ROOT
from workflow_api import to_api

from frontend_ui import connected_outputs_only

WORKFLOWS = sorted((REPO_ROOT / "workflows").glob("*.json"))


def test_template_browser_lists_every_bundled_workflow(comfy_server):
    listed = comfy_server.get("/workflow_templates").get("text2cinemagraph", [])
    assert sorted(listed) == sorted(path.stem for path in WORKFLOWS)
    for path in WORKFLOWS:
        served = comfy_server.get(f"/api/workflow_templates/text2cinemagraph/{path.name}")
        assert served == json.loads(path.read_text())


def test_pack_puts_the_sample_painting_into_the_input_folder(comfy_server):
    """Out of the box: the server started with an empty input folder and the pack copied the samples there."""
    samples = ("sample_painting.png", "sample_painting_mask.png", "sample_painting_layers.png")
    assert f"[Text2Cinemagraph] copied {', '.join(samples)} into ComfyUI's input folder" in comfy_server.log()
    for name in samples:
        assert (comfy_server.input_dir / name).read_bytes() == (REPO_ROOT / "assets" / name).read_bytes()
    listed = comfy_server.get("/object_info/LoadImage")["LoadImage"]["input"]["required"]["image"]
    names = listed[0] if isinstance(listed[0], list) else listed[1].get("options", [])
    assert "sample_painting.png" in names, "Load Image does not offer the sample painting"


def test_animate_painting_runs_headless_and_writes_the_loop(comfy_server):
    # nothing copied by hand: the pack put sample_painting.png into the input folder when ComfyUI started
    workflow = json.loads((REPO_ROOT / "workflows" / "animate_painting.json").read_text())
    prompt = to_api(workflow, comfy_server.get("/object_info"))
    assert {node["class_type"] for node in prompt.values()} >= {"LoadImage", "T2C_TextFlow", "T2C_Animate",
                                                                 "T2C_SaveCinemagraph"}
    entry = comfy_server.run_prompt(prompt, timeout=600)
    videos = [path for path in comfy_server.output_files(entry) if path.suffix == ".mp4"]
    assert len(videos) == 1
    frames = iio.imread(videos[0], plugin="pyav")
    assert frames.shape == (60, 512, 768, 3)
    # Frame 15, not 30: a sharp loop made of two cycles is the still again at frame 30.
    moving = abs(frames[15].astype(int) - frames[0].astype(int)).mean()
    assert moving > 1.0, "the water should visibly move between frame 0 and a quarter of the loop"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_nodes_exist_on_the_server(comfy_server, path):
    known = comfy_server.get("/object_info")
    frontend_only = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
    types = {node["type"] for node in json.loads(path.read_text())["nodes"]}
    assert types - frontend_only <= set(known), f"unknown node types: {types - frontend_only - set(known)}"


def test_generated_workflows_are_current(comfy_server):
    """Every workflow but animate_painting is generated from the node schemas (scripts/build_workflows.py) of the
    oldest supported ComfyUI, byte for byte. Later ComfyUIs add outputs to core nodes (0.33: PreviewImage's
    `images`), which the frontend adds on load: in the current leg the files match up to unconnected outputs."""
    current_leg = os.environ.get("T2C_COMFYUI_LEG") == "current"
    for name, text in build_all(comfy_server.get("/object_info")).items():
        committed = (REPO_ROOT / "workflows" / name).read_text()
        if current_leg:
            committed, text = ({**graph, "nodes": connected_outputs_only(graph["nodes"])}
                               for graph in (json.loads(committed), json.loads(text)))
        assert committed == text, f"workflows/{name} is stale: run `.venv/bin/python scripts/build_workflows.py`"
