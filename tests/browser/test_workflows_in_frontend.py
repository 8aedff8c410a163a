"""Bundled workflows in the real frontend: they load cleanly, the frontend's own prompt equals ours, and
`animate_painting` queued from the page writes a cinemagraph."""

import json
import shutil
import time

import pytest
from build_workflows import WORKFLOWS as GENERATED
from comfy_server import REPO_ROOT
from workflow_api import to_api

WORKFLOWS = sorted((REPO_ROOT / "workflows").glob("*.json"))


def _load(page, workflow):
    page.evaluate("async (wf) => { await app.loadGraphData(wf); }", workflow)
    page.wait_for_timeout(300)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_loads_without_missing_nodes_and_matches_our_converter(comfy_page, comfy_server, path,
                                                                       artifacts_dir):
    workflow = json.loads(path.read_text())
    _load(comfy_page, workflow)
    missing = comfy_page.evaluate("app.graph._nodes.filter(n => n.has_errors || !LiteGraph.registered_node_types["
                                  "n.type]).map(n => n.type)")
    assert missing == []
    dialogs = comfy_page.locator(".p-dialog:visible").all_inner_texts()
    assert not [text for text in dialogs if "missing" in text.lower() or "invalid" in text.lower()], dialogs
    frontend_prompt = comfy_page.evaluate("async () => (await app.graphToPrompt()).output")
    for node in frontend_prompt.values():
        node.pop("_meta", None)  # display titles only
    assert frontend_prompt == to_api(workflow, comfy_server.get("/object_info"))
    comfy_page.screenshot(path=str(artifacts_dir / f"workflow_{path.stem}.png"))
    assert not comfy_page.t2c_errors


def _without_sizes(nodes: list[dict]) -> list[dict]:
    return sorted(({key: value for key, value in node.items() if key != "size"} for node in nodes),
                  key=lambda node: node["id"])


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_workflow_is_what_the_frontend_saves(comfy_page, name):
    """scripts/build_workflows.py writes the frontend's own format: loaded and serialised again, every node, link
    and group comes back unchanged (sizes aside: the frontend grows a node to fit its widgets)."""
    workflow = json.loads((REPO_ROOT / "workflows" / f"{name}.json").read_text())
    _load(comfy_page, workflow)
    saved = comfy_page.evaluate("JSON.parse(JSON.stringify(app.graph.serialize()))")
    assert _without_sizes(saved["nodes"]) == _without_sizes(workflow["nodes"])
    assert saved["links"] == workflow["links"] and saved["groups"] == workflow["groups"]


def test_animate_painting_queued_from_the_page_writes_a_file(comfy_page, comfy_server):
    shutil.copy(REPO_ROOT / "assets" / "sample_painting.png", comfy_server.input_dir / "sample_painting.png")
    before = set(comfy_server.output_dir.rglob("*.mp4"))
    _load(comfy_page, json.loads((REPO_ROOT / "workflows" / "animate_painting.json").read_text()))
    comfy_page.evaluate("async () => { await app.queuePrompt(0, 1); }")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        new = set(comfy_server.output_dir.rglob("*.mp4")) - before
        if new:
            break
        time.sleep(0.5)
    assert new, f"no cinemagraph written; server log tail:\n{comfy_server.log()[-3000:]}"
