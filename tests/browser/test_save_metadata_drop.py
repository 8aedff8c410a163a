"""A cinemagraph saved from the page is previewed in its node in every format, and carries its graph: dropping the
mp4, webp, webm, apng or the live photo's MOV onto an empty canvas in the real frontend loads the graph that made it
(the frontend's own file readers; it reads nothing from GIF or JPEG files)."""

import base64
import json
import time

import pytest

MIME = {"mp4": "video/mp4", "webp": "image/webp", "webm": "video/webm", "apng": "image/png",
        "live photo": "video/quicktime"}
FORMATS = ["mp4", "gif", "webp", "webm", "apng", "motion photo", "live photo", "live photo hevc"]
VIDEO_PREVIEW = ("mp4", "webm", "live photo")


def _wait_for_run(comfy_server, before: set, timeout=300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [entry for key, entry in comfy_server.get("/history").items()
                if key not in before and entry.get("status", {}).get("completed") is not None]
        if done:
            assert done[0]["status"].get("status_str") == "success", json.dumps(done[0]["status"])[-3000:]
            return done[0]
        time.sleep(0.5)
    raise AssertionError(f"the queued prompt did not finish in {timeout} s:\n{comfy_server.log()[-3000:]}")


def _build_and_queue(page, fmt: str, marker: str) -> None:
    """Load Image (the bundled sample the pack put in the input folder) → Save Cinemagraph, queued from the page."""
    page.evaluate("""async ([fmt, marker]) => {
        app.graph.clear();
        const load = LiteGraph.createNode('LoadImage');
        load.pos = [60, 120];
        app.graph.add(load);
        load.widgets.find((w) => w.name === 'image').value = 'sample_painting.png';
        const save = LiteGraph.createNode('T2C_SaveCinemagraph');
        save.pos = [460, 120];
        save.title = marker;
        app.graph.add(save);
        load.connect(0, save, 0);
        save.widgets.find((w) => w.name === 'format').value = fmt;
        save.widgets.find((w) => w.name === 'filename_prefix').value = 'dropped/' + fmt;
        await app.queuePrompt(0, 1);
    }""", [fmt, marker])


def _drop(page, payload: bytes, name: str, mime: str) -> None:
    """Drop a file on the canvas like a user dragging it from the desktop (dragenter, dragover, drop)."""
    page.evaluate("""([b64, name, mime]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, { type: mime }));
        const target = app.canvas.canvas;
        const box = target.getBoundingClientRect();
        const at = { clientX: box.left + box.width / 2, clientY: box.top + box.height / 2 };
        for (const type of ['dragenter', 'dragover', 'drop']) {
            const init = { dataTransfer: transfer, bubbles: true, cancelable: true, ...at };
            target.dispatchEvent(new DragEvent(type, init));
        }
    }""", [base64.b64encode(payload).decode(), name, mime])


@pytest.mark.parametrize("fmt", list(MIME))
def test_dropping_a_saved_cinemagraph_restores_its_graph(comfy_page, comfy_server, fmt, artifacts_dir):
    page = comfy_page
    marker = f"saved as {fmt} from the page"
    before = set(comfy_server.get("/history"))
    _build_and_queue(page, fmt, marker)
    entry = _wait_for_run(comfy_server, before)
    (saved,) = comfy_server.output_files(entry)

    page.evaluate("() => { app.graph.clear(); app.canvas.setDirty(true, true); }")
    assert page.evaluate("() => app.graph.nodes.length") == 0
    _drop(page, saved.read_bytes(), saved.name, MIME[fmt])
    page.wait_for_function("(marker) => app.graph.nodes.some((n) => n.title === marker)", arg=marker,
                           timeout=20_000)
    restored = page.evaluate("""() => app.graph.nodes.map((n) => ({
        type: n.type, title: n.title, widgets: Object.fromEntries((n.widgets ?? []).map((w) => [w.name, w.value])),
        linked: (n.inputs ?? []).filter((i) => i.link != null).map((i) => i.name) }))""")
    by_type = {node["type"]: node for node in restored}
    assert set(by_type) == {"LoadImage", "T2C_SaveCinemagraph"}, restored
    assert by_type["LoadImage"]["widgets"]["image"] == "sample_painting.png"
    assert by_type["T2C_SaveCinemagraph"]["widgets"]["format"] == fmt
    assert by_type["T2C_SaveCinemagraph"]["linked"] == ["frames"]
    page.screenshot(path=str(artifacts_dir / f"dropped_{fmt.replace(' ', '_')}.png"))
    assert not [e for e in page.t2c_errors if "text2cinemagraph" in e.lower()]


VIDEO_SHOWN = """([title, name]) => [...document.querySelectorAll('video')].some(
    (v) => (v.currentSrc || v.src).includes(encodeURIComponent(name)) && v.readyState >= 2 && v.videoWidth > 0
        && v.loop && v.muted)"""  # decoded by the browser, and set playing by save_preview.js
IMAGE_SHOWN = """([title, name]) => (app.graph.nodes.find((n) => n.title === title)?.imgs ?? []).some(
    (img) => img.src.includes(encodeURIComponent(name)) && img.complete && img.naturalWidth > 0)"""
PREVIEW_STATE = """(title) => ({
    imgs: (app.graph.nodes.find((n) => n.title === title)?.imgs ?? []).map((img) => [img.src, img.naturalWidth]),
    videos: [...document.querySelectorAll('video')].map((v) => [v.currentSrc || v.src, v.readyState,
                                                              v.error?.message ?? null]),
})"""


def test_every_format_is_previewed_in_its_node(comfy_page, comfy_server, artifacts_dir):
    """One run saves the sample painting (30 frames) in every format; each Save node then shows its own file: a
    video the browser has decoded, looping muted (mp4, webm, the live photo's MOV), or a loaded image (gif, webp,
    apng, the motion photo's still, the HEVC live photo's still)."""
    page = comfy_page
    before = set(comfy_server.get("/history"))
    # An empty workflow loaded through the app (not app.graph.clear()): the current frontend may still be opening
    # its default workflow, which would replace a graph built before it; the built graph is loaded the same way
    # (frontend 1.32 shows no previews in a graph built into a freshly loaded empty workflow).
    page.evaluate("""async (formats) => {
        await app.loadGraphData({ last_node_id: 0, last_link_id: 0, nodes: [], links: [], groups: [], config: {},
                                  extra: {}, version: 0.4 });
        const load = LiteGraph.createNode('LoadImage');
        load.pos = [40, 60];
        app.graph.add(load);
        load.widgets.find((w) => w.name === 'image').value = 'sample_painting.png';
        const repeat = LiteGraph.createNode('RepeatImageBatch');  // a 1-s "loop" of the still
        repeat.pos = [40, 420];
        app.graph.add(repeat);
        repeat.widgets.find((w) => w.name === 'amount').value = 30;
        load.connect(0, repeat, 0);
        formats.forEach((fmt, index) => {
            const save = LiteGraph.createNode('T2C_SaveCinemagraph');
            save.pos = [400 + 330 * (index % 4), 40 + 520 * Math.floor(index / 4)];  // 4 a row
            save.title = 'preview ' + fmt;
            app.graph.add(save);
            repeat.connect(0, save, 0);
            save.widgets.find((w) => w.name === 'format').value = fmt;
            const prefix = save.widgets.find((w) => w.name === 'filename_prefix');
            prefix.value = 'preview_' + fmt.replaceAll(' ', '_') + '/loop';
        });
        await app.loadGraphData(app.graph.serialize());  // the graph as the workflow of the open tab
        app.canvas.ds.scale = 0.5;
        app.canvas.ds.offset = [0, 200];
        app.canvas.setDirty(true, true);
        await app.queuePrompt(0, 1);
    }""", FORMATS)
    entry = _wait_for_run(comfy_server, before)
    names = {path.parent.name: path.name for path in comfy_server.output_files(entry)}
    for fmt in FORMATS:
        name = names["preview_" + fmt.replace(" ", "_")]
        shown = VIDEO_SHOWN if fmt in VIDEO_PREVIEW else IMAGE_SHOWN
        try:
            page.wait_for_function(shown, arg=[f"preview {fmt}", name], timeout=30_000)
        except Exception as error:  # playwright's timeout: say what the node shows instead
            page.screenshot(path=str(artifacts_dir / "save_preview_formats.png"))
            state = page.evaluate(PREVIEW_STATE, f"preview {fmt}")
            raise AssertionError(f"{fmt}: {name} is not previewed; the page shows {state}") from error
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts_dir / "save_preview_formats.png"))
    assert not [e for e in page.t2c_errors if "text2cinemagraph" in e.lower()]
