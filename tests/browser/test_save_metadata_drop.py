"""A cinemagraph saved from the page carries its graph: dropping the mp4 or webp onto an empty canvas in the real
frontend loads the graph that made it (the frontend's own file readers; it reads nothing from GIF files)."""

import base64
import json
import time

import pytest

MIME = {"mp4": "video/mp4", "webp": "image/webp"}


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


@pytest.mark.parametrize("fmt", ["mp4", "webp"])
def test_dropping_a_saved_cinemagraph_restores_its_graph(comfy_page, comfy_server, fmt, artifacts_dir):
    page = comfy_page
    marker = f"saved as {fmt} from the page"
    before = set(comfy_server.get("/history"))
    _build_and_queue(page, fmt, marker)
    entry = _wait_for_run(comfy_server, before)
    (saved,) = [path for path in comfy_server.output_files(entry) if path.suffix == f".{fmt}"]

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
    page.screenshot(path=str(artifacts_dir / f"dropped_{fmt}.png"))
    assert not [e for e in page.t2c_errors if "text2cinemagraph" in e.lower()]
