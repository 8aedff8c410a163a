"""The bundled workflows that need no weights loop cleanly at full size: their sharp-loop plan has no warnings."""

from __future__ import annotations

import pytest
from workflow_runner import bundled_prompt, node_inputs

import nodes as comfy_nodes  # ComfyUI's nodes.py (its folder comes first on sys.path)


def _plan(name: str, t2c_nodes: dict):
    """The sharp loop's plan for the bundled workflow's Animate node, its motion prepared as Animate prepares it."""
    from text2cinemagraph.models.flow.layers import as_stack
    from text2cinemagraph.models.loop import sharp_loop
    from text2cinemagraph.models.loop.engines import engine_motion

    classes = {**comfy_nodes.NODE_CLASS_MAPPINGS, **t2c_nodes}
    prompt = bundled_prompt(name, classes)
    animate = next(key for key, node in prompt.items() if node["class_type"] == "T2C_Animate")
    inputs = node_inputs(prompt, animate, classes)
    image = inputs["image"]
    motion, _ = engine_motion(as_stack(inputs["flow"], "flow"), tuple(image.shape[1:3]), image.shape[0],
                              inputs.get("mask"), inputs["speed"], inputs["max_px_per_frame"], inputs["engine"])
    return sharp_loop.make_plan(motion, inputs["frames"])


@pytest.mark.parametrize("name", ["animate_painting", "animate_painting_layers"])
def test_bundled_workflow_plans_without_warnings(name, t2c_nodes):
    plan = _plan(name, t2c_nodes)
    assert plan.warnings == ()
