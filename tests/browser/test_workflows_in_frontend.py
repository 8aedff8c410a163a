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
    assert not [text for text in dialogs if "invalid" in text.lower()], dialogs
    # The only thing a fresh install lacks is the SD1.x checkpoint of the text workflows, offered for download
    # from the properties.models entry (name, url, directory) the file carries, as ComfyUI's templates do.
    listed = [m for node in workflow["nodes"] for m in node.get("properties", {}).get("models", [])]
    missing_dialogs = [text for text in dialogs if "missing" in text.lower()]
    if not listed:
        assert not missing_dialogs, dialogs
    else:
        assert len(missing_dialogs) == 1, dialogs
        entries = [line for line in missing_dialogs[0].splitlines() if " / " in line]
        assert entries == [f"{m['directory']} / {m['name']}" for m in listed], missing_dialogs
        assert "Download" in missing_dialogs[0]
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
    differences = [(ours["id"], ours["type"], key, ours.get(key), theirs.get(key))
                   for ours, theirs in zip(_without_sizes(workflow["nodes"]), _without_sizes(saved["nodes"]),
                                           strict=False)
                   for key in sorted(set(ours) | set(theirs)) if ours.get(key) != theirs.get(key)]
    assert not differences, f"(id, type, key, file, frontend): {differences[:5]}"
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


def _as_saved_by_pack_0_1_0(workflow: dict) -> dict:
    """The loaders as an older pack version saved them: no `dtype` input, so no widget value for it."""
    old = json.loads(json.dumps(workflow))
    for node in old["nodes"]:
        if node["type"] in ("T2C_FlowModelLoader", "T2C_VideoModelLoader"):
            node["inputs"] = [entry for entry in node["inputs"] if entry["name"] != "dtype"]
            node["widgets_values"] = node["widgets_values"][:1]
    return old


def test_a_workflow_from_an_older_pack_version_still_loads(comfy_page, comfy_server):
    workflow = json.loads((REPO_ROOT / "workflows" / "text_direction_official_networks.json").read_text())
    _load(comfy_page, _as_saved_by_pack_0_1_0(workflow))
    missing = comfy_page.evaluate("app.graph._nodes.filter(n => n.has_errors || !LiteGraph.registered_node_types["
                                  "n.type]).map(n => n.type)")
    assert missing == []
    prompt = comfy_page.evaluate("async () => (await app.graphToPrompt()).output")
    loaders = [node for node in prompt.values() if node["class_type"] in ("T2C_FlowModelLoader",
                                                                          "T2C_VideoModelLoader")]
    assert len(loaders) == 2 and all(node["inputs"]["dtype"] == "auto" for node in loaders), loaders
    assert {node["inputs"]["weights"] for node in loaders} == {
        "motion-direction-pretrained/latest_net_G.pth", "video-pretrained/latest_net_G.pth"}
    assert not comfy_page.t2c_errors


def _animate_engines(page):
    return page.evaluate("async () => Object.values((await app.graphToPrompt()).output)"
                         ".filter(n => n.class_type === 'T2C_Animate').map(n => n.inputs.engine)")


def test_animate_saved_before_the_engine_input_keeps_the_classic_engine(comfy_page):
    workflow = json.loads((REPO_ROOT / "workflows" / "animate_painting.json").read_text())
    _load(comfy_page, workflow)
    assert _animate_engines(comfy_page) == ["sharp loop"]
    for node in workflow["nodes"]:
        if node["type"] == "T2C_Animate":  # as saved before the input existed: four widget values
            node["widgets_values"] = node["widgets_values"][:4]
            node["inputs"] = [entry for entry in node["inputs"] if entry["name"] != "engine"]
    _load(comfy_page, workflow)
    assert _animate_engines(comfy_page) == ["classic splat"]
    assert not comfy_page.t2c_errors
