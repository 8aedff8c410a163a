"""ComfyUI's own /prompt validation on our nodes: validate_inputs names only the inputs it checks, so the schema's
min/max hold for every other input; combo values (never checked by ComfyUI for V3 nodes) are checked by the node."""

from __future__ import annotations

import asyncio
import inspect

import execution
import pytest
import torch

import nodes


@pytest.fixture()
def registered(t2c_nodes):
    added = {node_id: cls for node_id, cls in t2c_nodes.items() if node_id not in nodes.NODE_CLASS_MAPPINGS}
    nodes.NODE_CLASS_MAPPINGS.update(added)
    yield t2c_nodes
    for node_id in added:
        nodes.NODE_CLASS_MAPPINGS.pop(node_id, None)


def _errors(node_id: str, inputs: dict) -> list[dict]:
    prompt = {"1": {"class_type": node_id, "inputs": inputs}}
    valid, errors, _ = asyncio.run(execution.validate_inputs("test", prompt, "1", {}))
    return [] if valid else errors


TEXT_FLOW = {"text": "waterfall", "direction": "auto (from text)",
             "angle": 270.0, "strength": 0.0, "seed": 0, "arrows": "", "hint_px_per_frame": 64.0}
REGION_MASK = {"words": "water", "backend": "auto", "n_clusters": 5, "cluster_type": "kmeans",
               "threshold": 0.7, "erosion_ksize": 5, "erosion_iterations": 0}


def _without_links(errors: list[dict]) -> list[dict]:
    """Errors other than the missing image and mask (these prompts link no upstream node)."""
    return [e for e in errors if e["extra_info"].get("input_name") not in ("image", "mask")]


@pytest.mark.parametrize("node_id", ["T2C_TextFlow", "T2C_RegionMask"])
def test_validate_inputs_names_only_what_it_checks(registered, node_id):
    spec = inspect.getfullargspec(registered[node_id].validate_inputs)
    assert spec.varkw is None and spec.args[1:] in (["arrows"], ["words"])


@pytest.mark.parametrize("name,value", [("strength", 1e9), ("seed", 2**40), ("angle", 1e308), ("angle", -1e308),
                                        ("hint_px_per_frame", 1e6), ("strength", -1.0)])
def test_text_flow_min_max_hold(registered, name, value):
    errors = _without_links(_errors("T2C_TextFlow", {**TEXT_FLOW, name: value}))
    assert [e["extra_info"]["input_name"] for e in errors] == [name]
    assert errors[0]["type"] in ("value_bigger_than_max", "value_smaller_than_min")


@pytest.mark.parametrize("name,value", [("n_clusters", 100_000), ("n_clusters", 1), ("erosion_iterations", 10**9),
                                        ("threshold", 2.0), ("erosion_ksize", 1001)])
def test_region_mask_min_max_hold(registered, name, value):
    errors = _without_links(_errors("T2C_RegionMask", {**REGION_MASK, name: value}))
    assert [e["extra_info"]["input_name"] for e in errors] == [name]


def test_an_arrows_error_is_reported_once_under_arrows(registered):
    errors = _without_links(_errors("T2C_TextFlow", {**TEXT_FLOW, "arrows": "[[0.1, 0.2, 0.3]]"}))
    assert len(errors) == 1 and errors[0]["extra_info"]["input_name"] == "arrows"
    assert "arrows" in errors[0]["details"] and "4" in errors[0]["details"]


def test_an_empty_words_error_is_reported_once_under_words(registered):
    errors = _without_links(_errors("T2C_RegionMask", {**REGION_MASK, "words": " , "}))
    assert len(errors) == 1 and errors[0]["extra_info"]["input_name"] == "words"


def _image(h=16, w=16):
    return torch.rand(1, h, w, 3)


@pytest.mark.parametrize("node_id,inputs,name", [
    ("T2C_SaveCinemagraph", {"frames": _image(), "filename_prefix": "x", "fps": 30.0, "format": "exe",
                             "quality": 90}, "format"),
    ("T2C_RegionMask", {"image": _image(), "words": "water", "backend": "auto", "n_clusters": 5,
                        "cluster_type": "kmeans", "threshold": 0.7, "erosion_ksize": 5, "erosion_iterations": 0,
                        "clip_model": "ViT-Z/99"}, "clip_model"),
    ("T2C_RegionMask", {"image": _image(), "words": "water", "backend": "magic", "n_clusters": 5,
                        "cluster_type": "kmeans", "threshold": 0.7, "erosion_ksize": 5, "erosion_iterations": 0},
     "backend"),
    ("T2C_RegionMask", {"image": _image(), "words": "water", "backend": "auto", "n_clusters": 5,
                        "cluster_type": "dbscan", "threshold": 0.7, "erosion_ksize": 5, "erosion_iterations": 0},
     "cluster_type"),
    ("T2C_Animate", {"image": _image(), "flow": torch.zeros(1, 2, 16, 16), "frames": 2, "speed": 1.0,
                     "max_px_per_frame": 0.0, "integration": "cubic"}, "integration"),
    ("T2C_TextFlow", {"image": _image(), "mask": torch.ones(1, 16, 16), "text": "", "direction": "sideways",
                      "angle": 0.0, "strength": 0.0, "seed": 0, "arrows": ""}, "direction"),
])
def test_a_bad_combo_value_names_the_input_and_lists_the_options(t2c_nodes, comfy_output_dir, node_id, inputs, name):
    schema = t2c_nodes[node_id].define_schema()
    options = next(i.options for i in schema.inputs if i.id == name)
    with pytest.raises(ValueError, match=f"`{name}`") as error:  # the pack's own InputValueError
        t2c_nodes[node_id].execute(**inputs)
    assert schema.display_name in str(error.value) and repr(options[0]) in str(error.value)
