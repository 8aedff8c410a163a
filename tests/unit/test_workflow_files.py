"""The bundled workflow files: the SD1.x checkpoint with its download info as ComfyUI's templates carry it, and
official-network loaders only in the "…_official_networks" variants, which connect them and say where the files
come from. (That they load in the frontend and run is tested in tests/browser and tests/server.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO_ROOT / "workflows").glob("*.json"))
LOADERS = {"T2C_FlowModelLoader", "T2C_VideoModelLoader"}
CHECKPOINT_LOADERS = {"CheckpointLoaderSimple"}


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _notes(workflow: dict) -> str:
    return "\n".join(str(v) for n in workflow["nodes"] if n["type"] in ("Note", "MarkdownNote")
                     for v in n.get("widgets_values", []))


def test_the_variants_exist():
    names = {path.stem for path in WORKFLOWS}
    assert {"text_to_cinemagraph", "text_to_cinemagraph_official_networks", "text_direction",
            "text_direction_official_networks", "painting_with_twin", "animate_painting", "animate_painting_layers",
            "text_to_cinemagraph_layers"} <= names


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_checkpoint_loaders_carry_name_url_and_folder(path):
    for node in _load(path)["nodes"]:
        if node["type"] not in CHECKPOINT_LOADERS:
            continue
        models = node.get("properties", {}).get("models")
        assert models and len(models) == 1, f"{path.name}: {node['type']} has no properties.models"
        (model,) = models
        assert model["name"] == node["widgets_values"][0], "the listed file is the one the loader selects"
        assert model["directory"] == "checkpoints"
        assert model["url"].startswith("https://huggingface.co/") and model["name"] in model["url"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_network_loaders_only_where_connected_and_explained(path):
    workflow = _load(path)
    loaders = [node for node in workflow["nodes"] if node["type"] in LOADERS]
    official = path.stem.endswith("_official_networks")
    if not official:
        assert not loaders, f"{path.name} names official-network files it does not use: {[n['type'] for n in loaders]}"
        return
    assert {node["type"] for node in loaders} == LOADERS
    for node in loaders:
        assert all(output.get("links") for output in node["outputs"]), f"{node.get('title')} is not connected"
    notes = _notes(workflow)
    assert "checkpoints.tar" in notes and "ComfyUI/models/text2cinemagraph/" in notes
    for weights in {node["widgets_values"][0] for node in loaders}:
        assert weights in notes, f"the notes do not say where {weights} comes from"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_only_the_checkpoint_is_a_model_file_of_the_plain_workflows(path):
    """What a fresh install's missing-model check can list: the SD1.x checkpoint (text workflows) or nothing."""
    workflow = _load(path)
    if path.stem.endswith("_official_networks"):
        return
    files = [value for node in workflow["nodes"] for value in node.get("widgets_values") or []
             if isinstance(value, str) and value.endswith((".safetensors", ".pth", ".ckpt", ".pt"))]
    listed = [m["name"] for node in workflow["nodes"] for m in node.get("properties", {}).get("models", [])]
    assert files == listed


def _source(workflow: dict, node: dict, input_name: str) -> dict | None:
    """The node linked into ``input_name`` of ``node``, or None."""
    link = next((entry["link"] for entry in node["inputs"] if entry["name"] == input_name), None)
    origin = next((entry[1] for entry in workflow["links"] if entry[0] == link), None)
    return next((other for other in workflow["nodes"] if other["id"] == origin), None)


def _layer_chain(workflow: dict) -> list[dict]:
    """The Text Flow nodes feeding Animate, bottom layer first, following each one's `layers` input."""
    (animate,) = [node for node in workflow["nodes"] if node["type"] == "T2C_Animate"]
    assert _source(workflow, animate, "mask") is None, "a stack carries its regions: Animate gets no mask"
    chain, node = [], _source(workflow, animate, "flow")
    while node is not None:
        assert node["type"] == "T2C_TextFlow"
        chain.insert(0, node)
        node = _source(workflow, node, "layers")
    return chain


@pytest.mark.parametrize(("name", "mask_node", "regions"), [
    ("animate_painting_layers", "LoadImageMask", ["red", "green", "blue"]),  # waterfall, lake, sky channels
    ("text_to_cinemagraph_layers", "T2C_RegionMask", ["sky, clouds", "water, waterfall, river, ocean, lake, sea"]),
])
def test_the_layers_workflows_chain_one_text_flow_per_region(name, mask_node, regions):
    workflow = _load(REPO_ROOT / "workflows" / f"{name}.json")
    chain = _layer_chain(workflow)
    masks = [_source(workflow, node, "mask") for node in chain]
    assert [mask["type"] for mask in masks] == [mask_node] * len(regions)
    assert [mask["widgets_values"][1 if mask_node == "LoadImageMask" else 0] for mask in masks] == regions
    assert len({node["title"] for node in chain}) == len(chain), "each layer's Text Flow says which region it moves"
