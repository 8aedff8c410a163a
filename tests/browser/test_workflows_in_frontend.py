"""Bundled workflows in the real frontend: they load cleanly, the frontend's own prompt equals ours, and
`animate_painting` queued from the page writes a cinemagraph."""

import json
import time

import pytest
from build_workflows import WORKFLOWS as GENERATED
from comfy_server import REPO_ROOT
from workflow_api import to_api

import frontend_ui as ui

WORKFLOWS = sorted((REPO_ROOT / "workflows").glob("*.json"))


def _load(page, workflow):
    page.evaluate("async (wf) => { await app.loadGraphData(wf); }", workflow)
    page.wait_for_timeout(300)


LOADER_FOLDERS = {"CheckpointLoaderSimple": "checkpoints", "T2C_FlowModelLoader": "text2cinemagraph",
                  "T2C_VideoModelLoader": "text2cinemagraph"}


def _expected_missing(workflow: dict, comfy_server) -> tuple[list[str], list[str]]:
    """(model files the server lacks, loader node types that name them): on a fresh install the SD1.x checkpoint
    of the text workflows and, in the "... official networks" variants, the network files (no public direct
    download). Other tests of the session may have put stand-in files there, so ask the server."""
    files, loaders = [], []
    for node in workflow["nodes"]:
        folder = LOADER_FOLDERS.get(node["type"])
        if folder and node["widgets_values"][0] not in comfy_server.get(f"/models/{folder}"):
            files.append(node["widgets_values"][0])
            loaders.append(node["type"])
    return sorted(set(files)), sorted(loaders)


@pytest.mark.parametrize("mode", ui.NODE_MODES)
@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_loads_without_missing_nodes_and_matches_our_converter(loading_page, comfy_server, path, mode,
                                                                       artifacts_dir):
    workflow = json.loads(path.read_text())
    ui.dismiss_notices(loading_page)
    with ui.node_mode(loading_page, mode):
        try:
            _check_loaded_workflow(loading_page, comfy_server, workflow)
            version = ".".join(map(str, ui.frontend_version(loading_page)))
            loading_page.screenshot(path=str(artifacts_dir / f"workflow_{path.stem}_frontend-{version}_{mode}.png"))
        finally:
            ui.close_issues_panel(loading_page)
    assert not loading_page.t2c_errors


def _check_loaded_workflow(page, comfy_server, workflow: dict) -> None:
    _load(page, workflow)
    assert ui.unknown_node_types(page) == []
    dialogs = page.locator(".p-dialog:visible").all_inner_texts()
    assert not [text for text in dialogs if "invalid" in text.lower()], dialogs
    # What ships needs nothing but the SD1.x checkpoint of the text workflows, offered for download from the
    # properties.models entry (name, url, directory) the file carries, as ComfyUI's templates do; the network
    # files only where a workflow connects the official networks. The painting workflow: no notice at all.
    files, loaders = _expected_missing(workflow, comfy_server)
    listed = [m["name"] for node in workflow["nodes"] for m in node.get("properties", {}).get("models", [])]
    has_loader = any(node["type"] in LOADER_FOLDERS for node in workflow["nodes"])
    named, offers_download, text = ui.missing_models_notice(
        page, ui.ISSUES_SETTLE_MS if has_loader else ui.NO_LOADER_SETTLE_MS)
    if ui.has_issues_panel(page):
        assert named == files, text[-2000:]
        assert ui.flagged_node_types(page) == loaders
        assert offers_download == bool(set(listed) & set(files)), text  # only the checkpoint has a known URL
    else:  # the classic frontend's dialog lists the models a workflow's metadata names that the server lacks
        assert named == sorted(set(listed) & set(files)), text
        assert offers_download == bool(named), text
    frontend_prompt = page.evaluate("async () => (await app.graphToPrompt()).output")
    for node in frontend_prompt.values():
        node.pop("_meta", None)  # display titles only
    assert frontend_prompt == to_api(workflow, comfy_server.get("/object_info"))


def _comparable(nodes: list[dict]) -> list[dict]:
    """Nodes without their sizes (the frontend grows a node to fit its widgets) and unconnected outputs."""
    return sorted(({key: value for key, value in node.items() if key != "size"}
                   for node in ui.connected_outputs_only(nodes)), key=lambda node: node["id"])


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_workflow_is_what_the_frontend_saves(loading_page, name):
    """scripts/build_workflows.py writes the frontend's own format: loaded and serialised again, every node, link
    and group comes back unchanged (what may change is left out by _comparable), compared in the older format each
    frontend's save is brought to (frontend_ui.saved_graph)."""
    workflow = json.loads((REPO_ROOT / "workflows" / f"{name}.json").read_text())
    _load(loading_page, workflow)
    saved = ui.saved_graph(loading_page)
    saved_nodes = saved["nodes"]
    differences = [(ours["id"], ours["type"], key, ours.get(key), theirs.get(key))
                   for ours, theirs in zip(_comparable(workflow["nodes"]), _comparable(saved_nodes),
                                           strict=False)
                   for key in sorted(set(ours) | set(theirs)) if ours.get(key) != theirs.get(key)]
    assert not differences, f"(id, type, key, file, frontend): {differences[:5]}"
    assert _comparable(saved_nodes) == _comparable(workflow["nodes"])
    assert saved["links"] == workflow["links"] and saved["groups"] == workflow["groups"]


def test_animate_painting_queued_from_the_page_writes_a_file(comfy_page, comfy_server):
    """The sample painting is in the input folder because the pack put it there at start-up. The prefix is made
    unique: the server tests ran the same workflow, and ComfyUI would answer an identical prompt from its cache."""
    before = set(comfy_server.output_dir.rglob("*.mp4"))
    workflow = json.loads((REPO_ROOT / "workflows" / "animate_painting.json").read_text())
    for node in workflow["nodes"]:
        if node["type"] == "T2C_SaveCinemagraph":
            node["widgets_values"][0] = "queued_from_the_page/painting"
    _load(comfy_page, workflow)
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
    assert ui.unknown_node_types(comfy_page) == []
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


def _text_flow_borders(page):
    return page.evaluate("async () => Object.values((await app.graphToPrompt()).output)"
                         ".filter(n => n.class_type === 'T2C_TextFlow').map(n => n.inputs.border)")


def test_text_flow_saved_before_the_layer_inputs_keeps_the_stick_border(comfy_page):
    workflow = json.loads((REPO_ROOT / "workflows" / "animate_painting.json").read_text())
    _load(comfy_page, workflow)
    assert _text_flow_borders(comfy_page) == ["behind"]  # as bundled (docs/layers.md: the lake passes behind its shore)
    for node in workflow["nodes"]:
        if node["type"] == "T2C_TextFlow":  # as saved before the layer inputs existed: eight widget values
            node["widgets_values"] = node["widgets_values"][:8]
            node["inputs"] = [entry for entry in node["inputs"] if entry["name"] not in ("layers", "border", "cycles")]
    _load(comfy_page, workflow)
    assert _text_flow_borders(comfy_page) == ["stick"]
    assert not comfy_page.t2c_errors


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
