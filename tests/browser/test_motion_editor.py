"""The motion editor on T2C_TextFlow in the real frontend: drawing with the mouse writes the `arrows` JSON, the
drawing reaches the prompt, and the cinemagraph queued from the page moves the way the drawn arrow points. The
Save Cinemagraph node then shows its result as a playing, looping video."""

import base64
import io
import json
import shutil
import time

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
from comfy_server import REPO_ROOT
from PIL import Image

import frontend_ui as ui
from models.flow.hints import MAX_ANCHORS

WORKFLOW = REPO_ROOT / "workflows" / "animate_painting.json"
PAINTING = REPO_ROOT / "assets" / "sample_painting.png"
ARROW_SPAN_FRAMES = 60  # models/flow/hints.py: an arrow is the path a point covers in 60 frames
TOLERANCE = 0.01  # of the image size: mouse positions land on whole screen pixels
# The editor is found the way the app knows it: the node's `motion_editor` DOM widget; its state is the
# extension's own object on the node (what its callbacks use), not a test hook.
EDITOR_JS = "(id) => app.graph.getNodeById(id).widgets.find((w) => w.name === 'motion_editor').element"
STATUS_JS = ("(id) => app.graph.getNodeById(id).widgets.find((w) => w.name === 'motion_editor').element"
             ".querySelector('.t2c-motion-status').textContent")


def _water_mask() -> np.ndarray:
    """The sample painting's water (transparent pixels = LoadImage's MASK)."""
    return np.asarray(Image.open(PAINTING).convert("RGBA"))[..., 3] < 128


def _drawing_targets():
    """A rightward arrow across the lake (the widest row of the water, in its lower half) and an anchor further on."""
    mask = _water_mask()
    height, width = mask.shape
    row = height // 2 + int(np.argmax(mask[height // 2:].sum(axis=1)))
    columns = np.flatnonzero(mask[row])
    x0, x1, xa = (np.percentile(columns, q) / width for q in (20, 45, 80))
    y = row / height
    return (x0, y, x1, y), (xa, y)


def _load_and_focus(page, workflow, title=None):
    """Load the workflow and pan the graph so the Text Flow node (the one of that title) and its editor are fully on
    screen."""
    page.evaluate("async (wf) => { await app.loadGraphData(wf); }", workflow)
    node_id = page.evaluate("""(title) => {
        const node = app.graph.nodes.find((n) => n.type === 'T2C_TextFlow' && (title === null || n.title === title));
        const ds = app.canvas.ds;
        ds.scale = 0.9;
        ds.offset = [420 / ds.scale - node.pos[0], 110 / ds.scale - node.pos[1]];
        app.canvas.setDirty(true, true);
        return node.id;
    }""", title)
    _wait_for_picture(page, node_id, timeout=30_000)
    editor = _editor(page, node_id)
    _wait_until_still(page, editor.query_selector("canvas"))  # DOM widgets follow the pan over the next frames
    return node_id, editor


def _editor(page, node_id):
    return page.evaluate_handle(EDITOR_JS, node_id).as_element()


def _editor_state(page, node_id) -> dict:
    return page.evaluate("""(id) => {
        const editor = app.graph.getNodeById(id).t2cMotionEditor;
        return {source: editor.source, loaded: !!editor.image};
    }""", node_id)


def _wait_for_picture(page, node_id, source=None, timeout=10_000):
    page.wait_for_function("""([id, source]) => {
        const editor = app.graph.getNodeById(id)?.t2cMotionEditor;
        return !!editor?.image && (source === null || editor.source === source);
    }""", arg=[node_id, source], timeout=timeout)


def _status(page, node_id) -> str:
    return page.evaluate(STATUS_JS, node_id)


def _wait_until_still(page, element, timeout_s=20.0):
    """Wait until the element's box is the same in two reads 150 ms apart (slow frames on a busy machine)."""
    deadline, previous = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        box = element.bounding_box()
        if box is not None and box == previous:
            return
        previous = box
        page.wait_for_timeout(150)
    raise AssertionError(f"the editor kept moving for {timeout_s} s")


def _arrows_value(page, node_id) -> str:
    return page.evaluate("(id) => app.graph.getNodeById(id).widgets.find((w) => w.name === 'arrows').value", node_id)


def _hints(page, node_id) -> dict:
    text = _arrows_value(page, node_id)
    return json.loads(text) if text else {"arrows": [], "anchors": []}


def _screen(page, editor):
    """Image fraction (x, y) → page coordinates over the editor canvas (it covers exactly the picture)."""
    box = editor.query_selector("canvas").bounding_box()
    return box, lambda fx, fy: (box["x"] + fx * box["width"], box["y"] + fy * box["height"])


def _draw(page, at, arrow, anchor):
    page.mouse.move(*at(arrow[0], arrow[1]))
    page.mouse.down()
    page.mouse.move(*at((arrow[0] + arrow[2]) / 2, (arrow[1] + arrow[3]) / 2), steps=6)
    page.mouse.move(*at(arrow[2], arrow[3]), steps=6)
    page.mouse.up()
    page.mouse.click(*at(*anchor))


def _close(actual, expected):
    return len(actual) == len(expected) and all(abs(a - e) <= TOLERANCE for a, e in zip(actual, expected, strict=True))


def _wait_for_run(comfy_server, before: set, timeout=300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = comfy_server.get("/history")
        done = [entry for key, entry in history.items()
                if key not in before and entry.get("status", {}).get("completed") is not None]
        if done:
            status = done[0]["status"]
            assert status.get("status_str") == "success", json.dumps(status.get("messages"))[-3000:]
            return done[0]
        time.sleep(0.5)
    raise AssertionError(f"the queued prompt did not finish in {timeout} s:\n{comfy_server.log()[-3000:]}")


def _mean_motion(video: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean optical flow (px/frame, x right, y down) inside the water, over consecutive frame pairs."""
    inner = cv2.erode(mask.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in video]
    motion = [cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)[inner].mean(axis=0)
              for a, b in zip(gray[:-1], gray[1:], strict=True)]
    return np.mean(motion, axis=0)


def test_drawn_arrow_steers_the_cinemagraph_queued_from_the_page(comfy_page, comfy_server, artifacts_dir):
    page = comfy_page
    shutil.copy(PAINTING, comfy_server.input_dir / "sample_painting.png")
    workflow = json.loads(WORKFLOW.read_text())
    node_id, editor = _load_and_focus(page, workflow)
    original = _hints(page, node_id)
    assert _editor_state(page, node_id)["source"] == "upstream", "the picture comes from the Load Image node"
    box, at = _screen(page, editor)
    assert abs(box["width"] / box["height"] - 768 / 512) < 0.02, "the editor keeps the picture's aspect ratio"
    page.screenshot(path=str(artifacts_dir / "motion_editor_before.png"))

    # Drawing appends to what the workflow had: one arrow (drag) and one anchor (click).
    arrow, anchor = _drawing_targets()
    _draw(page, at, arrow, anchor)
    text = _arrows_value(page, node_id)
    hints = json.loads(text)
    assert hints["version"] == 1
    assert hints["arrows"][:-1] == original["arrows"] and _close(hints["arrows"][-1], arrow)
    assert hints["anchors"][:-1] == original["anchors"] and _close(hints["anchors"][-1], anchor)
    assert all(round(v, 4) == v for item in hints["arrows"] + hints["anchors"] for v in item), "4 decimals"
    drawn = hints["arrows"][-1]
    assert drawn[2] - drawn[0] > 0.1 and abs(drawn[3] - drawn[1]) <= TOLERANCE, "the arrow points +x"
    prompt = page.evaluate("async () => (await app.graphToPrompt()).output")
    assert prompt[str(node_id)]["inputs"]["arrows"] == text, "the drawing reaches the prompt"
    assert "motion_editor" not in prompt[str(node_id)]["inputs"]
    saved = page.evaluate("(id) => app.graph.getNodeById(id).serialize().widgets_values", node_id)
    assert saved[6:] == [text, *workflow["nodes"][1]["widgets_values"][7:]], \
        "the workflow keeps the JSON; the editor adds no value"

    # Undo button removes the anchor (the last item), right-click the arrow; Clear empties the widget.
    editor.query_selector(".t2c-motion-undo").click()
    assert _hints(page, node_id)["anchors"] == original["anchors"]
    page.mouse.click(*at(0.5, 0.5), button="right")
    assert _hints(page, node_id)["arrows"] == original["arrows"]
    editor.query_selector(".t2c-motion-clear").click()
    assert _arrows_value(page, node_id) == ""
    assert _status(page, node_id) == "0 arrows · 0 anchors"

    # Only the drawn arrow and anchor drive the run (the text still says "waterfall", which would flow down).
    _draw(page, at, arrow, anchor)
    hints = _hints(page, node_id)
    assert len(hints["arrows"]) == 1 and len(hints["anchors"]) == 1
    (drawn,) = hints["arrows"]
    page.wait_for_timeout(200)
    page.screenshot(path=str(artifacts_dir / "motion_editor.png"))

    page.evaluate("""() => {  // a 1-s loop instead of 2 s keeps the run short
        const animate = app.graph.nodes.find((n) => n.type === 'T2C_Animate');
        animate.widgets.find((w) => w.name === 'frames').value = 30;
    }""")
    before = set(comfy_server.get("/history"))
    page.evaluate("async () => { await app.queuePrompt(0, 1); }")
    entry = _wait_for_run(comfy_server, before)
    (video_path,) = [path for path in comfy_server.output_files(entry) if path.suffix == ".mp4"]
    video = iio.imread(video_path, plugin="pyav")
    assert video.shape == (30, 512, 768, 3)

    # The water moves the way the arrow points, at about the arrow's speed (length / 60 frames).
    vx, vy = _mean_motion(video, _water_mask())
    expected = (drawn[2] - drawn[0]) * 768 / ARROW_SPAN_FRAMES
    assert 0.6 * expected < vx < 1.25 * expected, (vx, vy, expected)
    assert abs(vy) < 0.15 * vx, (vx, vy)

    # The save node shows the new file as a playing, looping, muted video.
    player = page.wait_for_selector(f'video[src*="{video_path.name}"]', timeout=30_000)
    page.wait_for_function("(v) => v.loop && v.muted && v.autoplay", arg=player, timeout=20_000)
    start = player.evaluate("(v) => v.currentTime")
    # Loading and starting the video can take seconds on a busy machine: wait for it to play, then advance.
    page.wait_for_function("([v, start]) => !v.paused && v.readyState >= 2 && v.currentTime !== start",
                           arg=[player, start], timeout=20_000)
    page.evaluate("""() => {
        const save = app.graph.nodes.find((n) => n.type === 'T2C_SaveCinemagraph');
        const ds = app.canvas.ds;
        ds.offset = [560 / ds.scale - save.pos[0], 110 / ds.scale - save.pos[1]];
        app.canvas.setDirty(true, true);
    }""")
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts_dir / "save_preview.png"))

    # Without the Load Image link the editor falls back to the picture of the last run (sent by T2C_TextFlow).
    page.evaluate("(id) => app.graph.getNodeById(id).disconnectInput(0)", node_id)
    _wait_for_picture(page, node_id, source="last-run")
    assert _hints(page, node_id)["arrows"] == [drawn]
    assert not page.t2c_errors


def _drawn_in(page, node_id) -> str:
    """How the frontend draws the node that holds the editor: a Nodes 2.0 (Vue) node element, or a DOM widget
    over the classic canvas."""
    return page.evaluate("""(id) => {
        const root = app.graph.getNodeById(id).widgets.find((w) => w.name === 'motion_editor').element;
        return root.closest(`[data-node-id="${id}"]`) ? 'nodes2' : root.closest('.dom-widget') ? 'classic' : 'neither';
    }""", node_id)


def _arrows_box(page, node_id):
    """The `arrows` text box a person sees and types into: the Vue node's textarea in Nodes 2.0, the widget's own
    one on the classic canvas."""
    return page.evaluate_handle("""(id) => {
        const vue = document.querySelector(`[data-node-id="${id}"] [data-widget-name="arrows"] textarea`);
        return vue ?? app.graph.getNodeById(id).widgets.find((w) => w.name === 'arrows').element;
    }""", node_id).as_element()


def _pixel(page, editor, fx, fy):
    return page.evaluate("""([root, fx, fy]) => {
        const canvas = root.querySelector('canvas');
        const x = Math.round(fx * (canvas.width - 1)), y = Math.round(fy * (canvas.height - 1));
        return [...canvas.getContext('2d').getImageData(x, y, 1, 1).data];
    }""", [editor, fx, fy])


def _is_arrow_yellow(rgba):
    red, green, blue, _ = rgba
    return red > 200 and green > 170 and blue < 120


def test_editor_redraws_when_the_widget_changes_and_sizes_itself(comfy_page, comfy_server):
    page = comfy_page
    shutil.copy(PAINTING, comfy_server.input_dir / "sample_painting.png")
    workflow = json.loads(WORKFLOW.read_text())
    flow_node = next(node for node in workflow["nodes"] if node["type"] == "T2C_TextFlow")
    flow_node["widgets_values"][6] = json.dumps({"version": 1, "arrows": [[0.1, 0.2, 0.9, 0.2]], "anchors": []})
    node_id, editor = _load_and_focus(page, workflow)  # a loaded workflow is drawn
    assert _status(page, node_id) == "1 arrow · 0 anchors"
    assert _is_arrow_yellow(_pixel(page, editor, 0.5, 0.2))

    # Typing into the `arrows` text widget redraws the editor too.
    arrows_input = _arrows_box(page, node_id)
    arrows_input.fill(json.dumps({"arrows": [[0.5, 0.9, 0.5, 0.6]], "anchors": [[0.2, 0.5]]}))
    page.wait_for_function(f"(id) => ({STATUS_JS})(id) === '1 arrow · 1 anchor'", arg=node_id, timeout=5_000)
    assert not _is_arrow_yellow(_pixel(page, editor, 0.5, 0.2))
    assert _is_arrow_yellow(_pixel(page, editor, 0.5, 0.75))
    arrows_input.fill("{not json")
    page.wait_for_function(f"(id) => ({STATUS_JS})(id).includes('not valid JSON')", arg=node_id, timeout=5_000)

    # A fresh node without a picture: a placeholder of sensible size; the editor never enters the prompt.
    sizes = page.evaluate("""() => {
        app.graph.clear();
        const node = LiteGraph.createNode('T2C_TextFlow');
        node.pos = [200, 150];
        app.graph.add(node);
        app.canvas.setDirty(true, true);
        const editor = node.widgets.find((w) => w.name === 'motion_editor');
        return {node: [...node.size], min: editor.computeLayoutSize(node).minHeight, id: node.id};
    }""")
    page.wait_for_function("(id) => app.graph.getNodeById(id)?.t2cMotionEditor?.source === 'none'",
                           arg=sizes["id"], timeout=5_000)
    assert 150 <= sizes["min"] <= 600 and sizes["node"][1] >= sizes["min"], sizes
    assert not page.t2c_errors


@pytest.mark.parametrize("mode", ui.NODE_MODES)
def test_editor_does_no_work_per_redraw_and_is_released_with_its_node(comfy_page, comfy_server, mode):
    page = comfy_page
    shutil.copy(PAINTING, comfy_server.input_dir / "sample_painting.png")
    # Every ResizeObserver from here on records what it observes and whether it was disconnected.
    page.evaluate("""() => {
        window.t2cObserved = [];
        const { observe, unobserve, disconnect } = ResizeObserver.prototype;
        ResizeObserver.prototype.observe = function (target, options) {
            window.t2cObserved.push({ observer: this, target, released: false });
            return observe.call(this, target, options);
        };
        ResizeObserver.prototype.unobserve = function (target) {
            for (const entry of window.t2cObserved) {
                if (entry.observer === this && entry.target === target) entry.released = true;
            }
            return unobserve.call(this, target);
        };
        ResizeObserver.prototype.disconnect = function () {
            for (const entry of window.t2cObserved) if (entry.observer === this) entry.released = true;
            return disconnect.call(this);
        };
    }""")
    with ui.node_mode(page, mode):
        node_id, editor = _load_and_focus(page, json.loads(WORKFLOW.read_text()))
        assert _drawn_in(page, node_id) == mode

        # Canvas redraws walk no graph; a graph event still does (the counter sees the editor's walks).
        walks = page.evaluate("""async (id) => {
            const { api } = await import("/scripts/api.js");
            const editor = app.graph.getNodeById(id).t2cMotionEditor;
            const pictureSource = editor.pictureSource;
            window.t2cWalks = 0;
            editor.pictureSource = function () { window.t2cWalks += 1; return pictureSource.call(this); };
            for (let i = 0; i < 20; i++) app.canvas.draw(true, true);
            const onRedraws = window.t2cWalks;
            api.dispatchEvent(new CustomEvent("graphChanged", { detail: app.graph.serialize() }));
            return { onRedraws, onEvent: window.t2cWalks - onRedraws };
        }""", node_id)
        assert walks == {"onRedraws": 0, "onEvent": 1}, walks

        # The limit's flash note is pending when the node is removed: its timer never fires afterwards.
        _arrows_box(page, node_id).fill(json.dumps({"arrows": [], "anchors": [[0.5, 0.5]] * MAX_ANCHORS}))
        page.wait_for_function(f"(id) => ({STATUS_JS})(id) === '0 arrows · {MAX_ANCHORS} anchors'", arg=node_id,
                               timeout=5_000)
        _, at = _screen(page, editor)
        page.mouse.click(*at(0.3, 0.7))
        assert _status(page, node_id) == f"at most {MAX_ANCHORS} anchors"
        released = page.evaluate("""async (id) => {
            const node = app.graph.getNodeById(id);
            const editor = node.t2cMotionEditor;
            const mine = window.t2cObserved.filter((entry) => editor.root.contains(entry.target));
            app.graph.remove(node);
            let draws = 0;
            editor.draw = () => { draws += 1; };
            await new Promise((resolve) => setTimeout(resolve, 2500));
            return { observed: mine.length > 0, released: mine.every((entry) => entry.released), draws };
        }""", node_id)
        assert released == {"observed": True, "released": True, "draws": 0}, released


def _interior_point(region: np.ndarray, avoid: list[tuple[float, float]]) -> tuple[float, float]:
    """A point deep inside ``region`` (fractions of the image), at least 8 % of the width from each of ``avoid``."""
    height, width = region.shape
    depth = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 5)
    for y, x in zip(*np.unravel_index(np.argsort(depth, axis=None)[::-1], depth.shape), strict=True):
        point = (x / (width - 1), y / (height - 1))
        if all(np.hypot(point[0] - ax, (point[1] - ay) * height / width) > 0.08 for ax, ay in avoid):
            return point
    raise AssertionError("no interior point")


def _wait_for_regions(page, node_id, kind, timeout=30_000):
    page.wait_for_function("""([id, kind]) => {
        const editor = app.graph.getNodeById(id)?.t2cMotionEditor;
        return editor?.regionsKind === kind && !!editor.regions && !!editor.image;
    }""", arg=[node_id, kind], timeout=timeout)


def _canvas_rgba(page, editor) -> np.ndarray:
    """The editor's canvas as drawn, [H, W, 4] uint8 at the canvas's own resolution."""
    data_url = page.evaluate("(root) => root.querySelector('canvas').toDataURL('image/png')", editor)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGBA"))


def _resized(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return cv2.resize(image.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def _inside(region: np.ndarray) -> np.ndarray:
    """The region less a 3-px margin: away from the soft edge of a scaled-down mask."""
    return cv2.erode(region.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0


def _border_band(region: np.ndarray) -> np.ndarray:
    """The pixels within 1 px of the region's border, on both sides."""
    kernel = np.ones((3, 3), np.uint8)
    return cv2.dilate(region.astype(np.uint8), kernel) > cv2.erode(region.astype(np.uint8), kernel)


def _record_our_deprecations(page) -> None:
    """Collect the call stacks of LiteGraph deprecation warnings raised from this pack's scripts (every warning
    repeats, so one raised first by the frontend's own code does not hide ours)."""
    page.evaluate("""() => {
        window.t2cDeprecations = [];
        LiteGraph.alwaysRepeatWarnings = true;
        LiteGraph.onDeprecationWarning.push((message) => {
            const stack = new Error().stack;
            if (stack.includes('/text2cinemagraph/')) window.t2cDeprecations.push(`${message}\n${stack}`);
        });
    }""")


def _check_layers_shown(shown: np.ndarray, painting: np.ndarray, layers: np.ndarray, stage: str) -> None:
    """The lake (layer 1 of the stack) shows the painting under its tint, the waterfall below it the painting
    unfilled and edged with its colour. ``shown`` is the editor's canvas, the others are brought to its size.
    Medians over each region: the drawn arrows cover a small part of the lake."""
    from models.flow.viz import LAYER_COLOURS, LAYER_TINT

    picture = _resized(painting, shown.shape)
    lake = _resized(layers[..., 1], shown.shape) > 0.5
    waterfall = (_resized(layers[..., 0], shown.shape) > 0.5) & ~lake  # the upper layer owns an overlap
    rgb = shown[..., :3].astype(np.float32)

    def median_error(expected, where):
        return float(np.median(np.abs(rgb - expected).max(axis=-1)[where]))

    assert (shown[..., 3] == 255).all(), f"{stage}: the editor is opaque everywhere"
    tinted = picture * (1 - LAYER_TINT) + np.array(LAYER_COLOURS[1]) * 255 * LAYER_TINT
    to_tinted, to_plain = median_error(tinted, _inside(lake)), median_error(picture, _inside(lake))
    assert rgb[_inside(lake)].mean() > 40, f"{stage}: the painted lake is drawn, not black"
    assert to_tinted < 12 and to_plain > 2 * to_tinted, f"{stage}: the lake is tinted ({to_tinted}, {to_plain})"
    unfilled = median_error(picture, _inside(waterfall))
    assert unfilled < 12, f"{stage}: the other layer is not filled ({unfilled})"
    band = _border_band(waterfall) & ~lake
    colour = np.array(LAYER_COLOURS[0]) * 255
    edged, plain = (float(np.linalg.norm(image - colour, axis=-1)[band].mean()) for image in (rgb, picture))
    assert edged < 0.6 * plain, f"{stage}: the waterfall below is edged with its colour ({edged}, {plain})"


@pytest.mark.parametrize("mode", ui.NODE_MODES)
def test_the_editor_shows_the_picture_opaque_with_its_layer_tinted(comfy_page, comfy_server, artifacts_dir, mode):
    """On a two-layer stack (the lake Text Flow, above the waterfall's), in each way the frontend draws nodes, the
    painted region shows the painting under this layer's tint, not black, and the waterfall below is outlined, not
    filled: before a run from the Load Image (as Mask) channels of both layers, after one from Text Flow's overlay
    of its stack. An arrow drawn there lands in the `arrows` text and in the queued prompt."""
    page = comfy_page
    for name in ("sample_painting.png", "sample_painting_layers.png"):
        shutil.copy(REPO_ROOT / "assets" / name, comfy_server.input_dir / name)
    workflow = json.loads((REPO_ROOT / "workflows" / "animate_painting_layers.json").read_text())
    painting = np.asarray(Image.open(PAINTING).convert("RGB"))
    layers = np.asarray(Image.open(REPO_ROOT / "assets" / "sample_painting_layers.png")) > 127
    suffix = "" if mode == "classic" else f"_{mode}"
    _record_our_deprecations(page)
    with ui.node_mode(page, mode):
        node_id, editor = _load_and_focus(page, workflow, "Text Flow (lake)")
        assert _drawn_in(page, node_id) == mode
        _wait_for_regions(page, node_id, "green")  # before a run: the lake is Load Image (as Mask)'s green channel
        _check_layers_shown(_canvas_rgba(page, editor), painting, layers, "before a run")

        before_drawing = _hints(page, node_id)
        ends = [point for a in before_drawing["arrows"] for point in (a[:2], a[2:])]
        x, y = _interior_point(layers[..., 1], ends)
        # Each mode draws its own arrow: a prompt the server ran before would come from its cache, and a cached
        # Text Flow sends the editor no overlay.
        sign = 1 if mode == "classic" else -1
        arrow, anchor = (x - 0.03 * sign, y, x + 0.03 * sign, y), (x, y + 0.02)
        _, at = _screen(page, editor)
        _draw(page, at, arrow, anchor)
        hints = _hints(page, node_id)
        assert hints["arrows"][:-1] == before_drawing["arrows"] and _close(hints["arrows"][-1], arrow)
        assert hints["anchors"][:-1] == before_drawing["anchors"] and _close(hints["anchors"][-1], anchor)
        text = _arrows_value(page, node_id)
        assert _arrows_box(page, node_id).input_value() == text, "the text box shows the drawing"
        page.screenshot(path=str(artifacts_dir / f"motion_editor_layers_before_run{suffix}.png"))

        page.evaluate("""() => {  // only the layers and their preview: Text Flow sends the editor its stack's overlay
            for (const node of app.graph.nodes.filter((n) => ['T2C_Animate', 'T2C_SaveCinemagraph'].includes(n.type))) {
                app.graph.remove(node);
            }
        }""")
        before = set(comfy_server.get("/history"))
        page.evaluate("async () => { await app.queuePrompt(0, 1); }")
        entry = _wait_for_run(comfy_server, before)
        assert entry["prompt"][2][str(node_id)]["inputs"]["arrows"] == text, "the drawing is what ran"
        _wait_for_regions(page, node_id, "run")
        _check_layers_shown(_canvas_rgba(page, editor), painting, layers, "after a run")
        page.screenshot(path=str(artifacts_dir / f"motion_editor_layers{suffix}.png"))
    assert not page.t2c_errors
    assert page.evaluate("() => window.t2cDeprecations") == [], "the pack calls no deprecated frontend API"
