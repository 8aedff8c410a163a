// Motion editor on every T2C_TextFlow node: draw arrows (drag) and still anchors (click) on the input picture.
// The drawing lives in the node's `arrows` STRING widget as JSON (format version 1, see models/flow/hints.py and docs/flow.md#arrows-json):
//   {"version": 1, "arrows": [[x0, y0, x1, y1], ...], "anchors": [[x, y], ...]}
// with coordinates as fractions 0..1 of the image (x right, y down); an arrow's length is the speed.
import { api } from "../../../scripts/api.js";
import { app } from "../../../scripts/app.js";
import { chainCallback, inputSlot, parseAnnotatedName, upstreamNode, viewUrl } from "./t2c_common.js";

const NODE_TYPE = "T2C_TextFlow";
const ARROWS_WIDGET = "arrows";
const EDITOR_IMAGE_KEY = "t2c_editor_image"; // nodes/flow.py EDITOR_IMAGE_KEY (tests/unit/test_web_constants.py)
const EDITOR_REGIONS_KEY = "t2c_editor_regions"; // nodes/flow.py EDITOR_REGIONS_KEY
const LAYER_COLOURS = [[0.2, 0.55, 1.0], [1.0, 0.45, 0.15], [0.25, 0.85, 0.3], [0.95, 0.25, 0.75],
                       [1.0, 0.85, 0.1], [0.1, 0.85, 0.9], [0.6, 0.4, 1.0], [0.95, 0.95, 0.95]]; // models/flow/viz.py
const LAYER_TINT = 0.45; // models/flow/viz.py LAYER_TINT
const CHANNEL_OFFSETS = { red: 0, green: 1, blue: 2, alpha: 3 }; // a mask channel's place in an RGBA pixel
const OVERLAY_MAX_PX = 1024; // the longest side of the overlay made before a run
const FORMAT_VERSION = 1;
const MAX_ITEMS = 128; // models/flow/hints.py MAX_ARROWS / MAX_ANCHORS (tests/unit/test_web_constants.py)
const CLICK_SLOP_PX = 5; // a press that moves less than this (screen px) is a click: an anchor
const TOOLBAR_PX = 28;
const DEFAULT_ASPECT = 4 / 3; // width / height while there is no picture
const MIN_CANVAS_PX = 120;
const MAX_CANVAS_PX = 560;

const round4 = (v) => Math.round(Math.min(1, Math.max(0, v)) * 1e4) / 1e4;
const isPoint = (item, arity) =>
    Array.isArray(item) && item.length === arity && item.every((v) => typeof v === "number" && v >= 0 && v <= 1);

/** Read the widget's JSON like models/flow/hints.py parse_arrows (lenient: a bad text gives an error message). */
export function parseHints(text) {
    const empty = { arrows: [], anchors: [], error: null };
    if (typeof text !== "string" || !text.trim()) return empty;
    let data;
    try {
        data = JSON.parse(text);
    } catch {
        return { ...empty, error: "arrows: not valid JSON" };
    }
    const arrows = Array.isArray(data) ? data : data?.arrows ?? [];
    const anchors = Array.isArray(data) ? [] : data?.anchors ?? [];
    if (!Array.isArray(arrows) || !Array.isArray(anchors) || !arrows.every((a) => isPoint(a, 4))
        || !anchors.every((a) => isPoint(a, 2))) {
        return { ...empty, error: "arrows: unexpected JSON (expected 0..1 coordinates)" };
    }
    return { arrows: arrows.map((a) => [...a]), anchors: anchors.map((a) => [...a]), error: null };
}

/** The widget text for a drawing (version 1, coordinates rounded to 4 decimals); "" when empty. */
export function formatHints({ arrows, anchors }) {
    if (!arrows.length && !anchors.length) return "";
    return JSON.stringify({ version: FORMAT_VERSION, arrows: arrows.map((a) => a.map(round4)),
                            anchors: anchors.map((a) => a.map(round4)) });
}

/** A /view URL with ComfyUI's `channel=rgb`: the picture opaque, so a painted (transparent) region shows. */
function opaqueUrl(url) {
    return url && url.includes("/view?") && !url.includes("channel=") ? `${url}&channel=rgb` : url;
}

/** The Text Flow nodes of this one's layer stack, bottom first, ending with `node` (its index is its layer's); at
 * most one per layer colour (models/flow/layers.py MAX_LAYERS). */
function stackNodes(node) {
    const stack = [node];
    for (let below = upstreamNode(node, "layers"); below?.type === NODE_TYPE && stack.length < LAYER_COLOURS.length;
        below = upstreamNode(below, "layers")) stack.unshift(below);
    return stack;
}

/** The picture a Load Image (or Load Image (as Mask)) node shows: the file its widget names (known from its
 * callback, before the node's own preview loads), else its preview. */
function shownUrl(node) {
    const imageWidget = node.widgets?.find((w) => w.name === "image");
    if (typeof imageWidget?.value === "string" && imageWidget.value && /^Load ?Image/i.test(node.type)) {
        return viewUrl(parseAnnotatedName(imageWidget.value));
    }
    const shown = node.imgs?.[node.imageIndex ?? 0] ?? node.imgs?.[0];
    return shown?.src ?? null;
}

/** Where the `mask` of a Text Flow comes from when a loader feeds it: the file and the channel that is the mask
 * (Load Image: its alpha, MASK = 1 − alpha; Load Image (as Mask): the channel its widget picks), else null. */
function maskSource(node) {
    const upstream = upstreamNode(node, "mask");
    if (!upstream || !/^LoadImage(Mask)?$/.test(upstream.type)) return null;
    const url = shownUrl(upstream);
    const channel = upstream.type === "LoadImage" ? "alpha"
        : upstream.widgets?.find((w) => w.name === "channel")?.value;
    return url && channel ? { url, channel } : null;
}

/** Load `url` into an Image; `done(image)` gets it, or null when it fails. */
function loadPicture(url, done) {
    const image = new Image();
    image.onload = () => done(image);
    image.onerror = () => done(null);
    image.src = url;
}

/** Load every URL (at least one); `done(images)` gets a Map url → Image of those that loaded. */
function loadPictures(urls, done) {
    const images = new Map();
    let left = urls.length;
    for (const url of urls) {
        loadPicture(url, (image) => {
            if (image) images.set(url, image);
            if (--left === 0) done(images);
        });
    }
}

/** Which layer owns each pixel of a `width` × `height` grid: the index of the topmost layer whose mask is above one
 * half there (models/flow/layers.py FlowStack.owner), −1 where none. `layers`: {image, channel} or null, bottom first. */
function layerOwners(layers, width, height) {
    const canvas = Object.assign(document.createElement("canvas"), { width, height });
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    const owner = new Int8Array(width * height).fill(-1);
    layers.forEach((layer, index) => {
        if (!layer) return;
        ctx.clearRect(0, 0, width, height);
        ctx.drawImage(layer.image, 0, 0, width, height);
        const data = ctx.getImageData(0, 0, width, height).data;
        const offset = CHANNEL_OFFSETS[layer.channel] ?? 3;
        for (let p = 0; p < owner.length; p++) {
            const value = data[4 * p + offset];
            if (offset === 3 ? value < 128 : value > 127) owner[p] = index; // alpha: MASK = 1 − alpha, as the loaders read it
        }
    });
    return owner;
}

/** 1 where the (2·radius + 1)² window around a pixel holds pixels both in and out of `region` (grown ≠ shrunk: how
 * models/flow/viz.py layer_overlay edges a layer), counted with a summed-area table. */
function edgeBand(region, width, height, radius) {
    const stride = width + 1;
    const sums = new Int32Array(stride * (height + 1));
    for (let y = 0; y < height; y++) {
        for (let x = 0, row = 0; x < width; x++) {
            row += region[y * width + x];
            sums[(y + 1) * stride + x + 1] = sums[y * stride + x + 1] + row;
        }
    }
    const band = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) {
        const y0 = Math.max(0, y - radius);
        const y1 = Math.min(height, y + radius + 1);
        for (let x = 0; x < width; x++) {
            const x0 = Math.max(0, x - radius);
            const x1 = Math.min(width, x + radius + 1);
            const count = sums[y1 * stride + x1] - sums[y0 * stride + x1] - sums[y1 * stride + x0] + sums[y0 * stride + x0];
            band[y * width + x] = count > 0 && count < (x1 - x0) * (y1 - y0) ? 1 : 0;
        }
    }
    return band;
}

/** Before a run, the overlay Text Flow sends after one (models/flow/viz.py layer_overlay), made from the loaders'
 * masks: the top layer (this node's) tinted, the layers below edged, each in its colour. At most OVERLAY_MAX_PX
 * long: the editor shows it smaller still. `layers`: {image, channel} or null, bottom first; the top one is set. */
function stackOverlay(layers) {
    const top = layers.length - 1;
    const { naturalWidth, naturalHeight } = layers[top].image;
    const scale = Math.min(1, OVERLAY_MAX_PX / Math.max(naturalWidth, naturalHeight));
    const width = Math.max(1, Math.round(naturalWidth * scale));
    const height = Math.max(1, Math.round(naturalHeight * scale));
    const owner = layerOwners(layers, width, height);
    const radius = Math.max(1, Math.round(Math.max(width, height) / 400)); // as layer_overlay: about 2 px at 512²
    const canvas = Object.assign(document.createElement("canvas"), { width, height });
    const ctx = canvas.getContext("2d");
    const pixels = ctx.createImageData(width, height);
    const words = new Uint32Array(pixels.data.buffer); // one RGBA pixel per word (little-endian: R in the low byte)
    const region = new Uint8Array(owner.length);
    layers.forEach((layer, index) => {
        if (!layer) return;
        for (let p = 0; p < owner.length; p++) region[p] = owner[p] === index ? 1 : 0;
        const painted = index === top ? region : edgeBand(region, width, height, radius);
        const [red, green, blue] = LAYER_COLOURS[index % LAYER_COLOURS.length].map((c) => Math.round(c * 255));
        const alpha = index === top ? Math.round(255 * LAYER_TINT) : 255;
        const word = ((alpha << 24) | (blue << 16) | (green << 8) | red) >>> 0;
        for (let p = 0; p < painted.length; p++) if (painted[p]) words[p] = word;
    });
    ctx.putImageData(pixels, 0, 0);
    return canvas;
}

const editors = new Set();

class MotionEditor {
    constructor(node) {
        this.node = node;
        this.arrows = [];
        this.anchors = [];
        this.history = []; // kinds added in this session, newest last, for "remove last"
        this.error = null;
        this.lastText = null;
        this.drag = null;
        this.image = null;
        this.imageUrl = null;
        this.source = "none";
        this.lastRunUrl = null;
        this.regions = null; // drawn over the picture: this layer's region tinted, the stack's other layers outlined
        this.regionsKey = null; // what `regions` was made from: a run's overlay URL, or a mask file and its channel
        this.regionsKind = "none";
        this.lastRun = null; // {picture, regions}: the overlay of the last run and the picture it was made for

        this.root = document.createElement("div");
        this.root.className = "t2c-motion-editor";
        Object.assign(this.root.style, { display: "flex", flexDirection: "column", boxSizing: "border-box",
                                         userSelect: "none", minHeight: "0" });

        const toolbar = document.createElement("div");
        Object.assign(toolbar.style, { display: "flex", alignItems: "center", gap: "4px", height: `${TOOLBAR_PX}px`,
                                       flex: "0 0 auto", font: "11px sans-serif", color: "#bbb" });
        this.undoButton = this.button("↶ Undo", "undo", "Remove the last arrow or anchor (or right-click the picture)",
                                      () => this.removeLast());
        this.clearButton = this.button("Clear", "clear", "Remove all arrows and anchors", () => this.clear());
        this.status = document.createElement("span");
        this.status.className = "t2c-motion-status";
        Object.assign(this.status.style, { marginLeft: "4px", overflow: "hidden", whiteSpace: "nowrap",
                                           textOverflow: "ellipsis" });
        toolbar.append(this.undoButton, this.clearButton, this.status);

        this.stage = document.createElement("div");
        Object.assign(this.stage.style, { flex: "1 1 auto", minHeight: "0", display: "flex", alignItems: "center",
                                          justifyContent: "center", overflow: "hidden", background: "#1a1a1a",
                                          borderRadius: "4px" });
        this.canvas = document.createElement("canvas");
        this.canvas.className = "t2c-motion-canvas";
        this.canvas.title = "Drag: arrow (direction and speed of the motion under it). Click: anchor (stays still). "
            + "Right-click: remove the last one.";
        Object.assign(this.canvas.style, { display: "block", touchAction: "none", cursor: "crosshair" });
        this.stage.append(this.canvas);
        this.root.append(toolbar, this.stage);

        this.canvas.addEventListener("pointerdown", (e) => this.onPointerDown(e));
        this.canvas.addEventListener("pointermove", (e) => this.onPointerMove(e));
        this.canvas.addEventListener("pointerup", (e) => this.onPointerUp(e));
        this.canvas.addEventListener("pointercancel", () => this.cancelDrag());
        this.canvas.addEventListener("contextmenu", (e) => {
            e.preventDefault();
            e.stopPropagation();
            this.removeLast();
        });
        this.root.addEventListener("pointerenter", () => this.sync());
        this.root.addEventListener("wheel", (e) => this.forwardWheel(e), { passive: false });
        this.resizeObserver = new ResizeObserver(() => this.layout());
        this.flashTimer = null;
    }

    /** The node is in a graph (created, or added back after a removal): follow its size and the app's events. */
    attach() {
        this.resizeObserver.observe(this.stage);
        editors.add(this);
        this.sync();
    }

    /** The node was removed: stop observing and following events, cancel the pending flash, ignore a picture or
     * regions still loading. */
    dispose() {
        this.resizeObserver.disconnect();
        editors.delete(this);
        clearTimeout(this.flashTimer);
        this.flashTimer = null;
        this.imageUrl = null;
        this.regionsKey = null;
    }

    button(label, name, title, onClick) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = label;
        button.title = title;
        button.className = `t2c-motion-${name}`;
        Object.assign(button.style, { font: "11px sans-serif", padding: "2px 8px", cursor: "pointer", color: "#ddd",
                                      background: "#333", border: "1px solid #555", borderRadius: "4px" });
        button.addEventListener("click", (e) => {
            e.stopPropagation();
            onClick();
        });
        return button;
    }

    get widget() {
        return this.node.widgets?.find((w) => w.name === ARROWS_WIDGET);
    }

    get linked() { // `arrows` fed by a link: the widget value is not what runs
        const slot = inputSlot(this.node, ARROWS_WIDGET);
        return slot >= 0 && this.node.isInputConnected(slot);
    }

    get aspect() {
        return this.image ? this.image.naturalWidth / this.image.naturalHeight : DEFAULT_ASPECT;
    }

    /** Height the DOM widget asks for: the picture at the node's width (clamped), plus the toolbar. */
    minHeight() {
        const width = Math.max(100, (this.node.size?.[0] ?? 400) - 20);
        return TOOLBAR_PX + Math.round(Math.min(MAX_CANVAS_PX, Math.max(MIN_CANVAS_PX, width / this.aspect)));
    }

    // ---- state ------------------------------------------------------------------------------------------------

    /** Pick up external changes: the widget text (typed, loaded workflow) and the picture to draw on. */
    sync() {
        this.watchArrowsWidget();
        const text = this.widget?.value ?? "";
        if (text !== this.lastText) {
            const parsed = parseHints(text);
            Object.assign(this, { arrows: parsed.arrows, anchors: parsed.anchors, error: parsed.error });
            this.lastText = text;
            this.history = [];
            this.draw();
        }
        const { url, source } = this.pictureSource();
        if (url !== this.imageUrl) this.loadImage(url, source);
        const regions = this.regionsSource(url);
        if (regions.key !== this.regionsKey) this.loadRegions(regions);
        this.fitMode();
    }

    /** A Load Image node's file name comes first: its callback has it before the node's own preview loads. */
    pictureSource() {
        const upstream = upstreamNode(this.node, "image");
        const raw = upstream ? shownUrl(upstream) : null;
        if (raw) return { url: opaqueUrl(raw), source: "upstream" };
        return this.lastRunUrl ? { url: this.lastRunUrl, source: "last-run" } : { url: null, source: "none" };
    }

    /** The overlay of the last run while the picture is the one it ran on; before a run, the stack's regions from
     * the loaders that feed each layer's `mask` (maskSource), drawn here (stackOverlay) when this layer's is known. */
    regionsSource(pictureUrl) {
        if (this.lastRun && this.lastRun.picture === pictureUrl) {
            return { key: this.lastRun.regions, kind: "run", url: this.lastRun.regions };
        }
        const layers = stackNodes(this.node).map(maskSource);
        const mine = layers.at(-1);
        return mine ? { key: layers.map((l) => l && `${l.url}#${l.channel}`).join("|"), kind: mine.channel, layers }
            : { key: null, kind: "none" };
    }

    loadRegions({ key, kind, url, layers }) {
        this.regionsKey = key;
        this.regions = null;
        this.regionsKind = kind;
        this.draw();
        if (!key) return;
        loadPictures(url ? [url] : [...new Set(layers.filter(Boolean).map((l) => l.url))], (images) => {
            if (this.regionsKey !== key) return;
            const loaded = layers?.map((l) => (images.has(l?.url) ? { ...l, image: images.get(l.url) } : null));
            this.regions = url ? images.get(url) ?? null : loaded.at(-1) ? stackOverlay(loaded) : null;
            this.draw();
        });
    }

    /** Typing into the `arrows` text (or any code setting it through the widget) redraws at once. */
    watchArrowsWidget() {
        const widget = this.widget;
        if (!widget || widget === this.watchedWidget) return;
        this.watchedWidget = widget;
        chainCallback(widget, "callback", () => this.sync());
        widget.element?.addEventListener?.("input", () => this.sync());
    }

    loadImage(url, source) {
        this.imageUrl = url;
        this.source = source;
        if (!url) {
            this.image = null;
            this.layout();
            return;
        }
        loadPicture(url, (image) => {
            if (this.imageUrl !== url) return;
            this.image = image;
            this.layout();
            if (image) this.node.setDirtyCanvas?.(true, true); // the node may need to grow for the picture's aspect
        });
    }

    setLastRun(output) {
        const saved = output?.[EDITOR_IMAGE_KEY]?.[0];
        if (!saved?.filename) return;
        this.lastRunUrl = `${viewUrl(saved)}${app.getRandParam?.() ?? ""}`;
        const regions = output?.[EDITOR_REGIONS_KEY]?.[0];
        const picture = upstreamNode(this.node, "image") ? this.pictureSource().url : this.lastRunUrl;
        this.lastRun = regions?.filename ? { picture, regions: `${viewUrl(regions)}${app.getRandParam?.() ?? ""}` }
            : null;
        this.sync();
    }

    write() {
        const text = formatHints(this);
        this.lastText = text;
        const widget = this.widget;
        if (widget) {
            widget.value = text;
            widget.callback?.(widget.value);
        }
        this.node.setDirtyCanvas?.(true, true);
        this.draw();
    }

    add(kind, item) {
        const list = kind === "arrow" ? this.arrows : this.anchors;
        if (list.length >= MAX_ITEMS) {
            this.flash(`at most ${MAX_ITEMS} ${kind}s`);
            return;
        }
        list.push(item.map(round4));
        this.history.push(kind);
        this.write();
    }

    removeLast() {
        if (this.linked) return;
        let kind = this.history.pop();
        if (kind === "arrow" ? !this.arrows.length : kind === "anchor" ? !this.anchors.length : true) {
            kind = this.arrows.length ? "arrow" : "anchor";
        }
        const list = kind === "arrow" ? this.arrows : this.anchors;
        if (!list.length) return;
        list.pop();
        this.write();
    }

    clear() {
        if (this.linked) return;
        this.arrows = [];
        this.anchors = [];
        this.history = [];
        this.error = null;
        this.write();
    }

    flash(message) {
        this.note = message;
        this.draw();
        clearTimeout(this.flashTimer);
        this.flashTimer = setTimeout(() => {
            this.flashTimer = null;
            this.note = null;
            this.draw();
        }, 2000);
    }

    // ---- pointer ----------------------------------------------------------------------------------------------

    fraction(event) {
        const rect = this.canvas.getBoundingClientRect();
        return [Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width)),
                Math.min(1, Math.max(0, (event.clientY - rect.top) / rect.height))];
    }

    onPointerDown(event) {
        if (event.button !== 0 || this.linked) return;
        // No preventDefault: the compatibility mouseup must still reach the frontend's change tracker.
        event.stopPropagation();
        this.canvas.setPointerCapture?.(event.pointerId);
        const start = this.fraction(event);
        this.drag = { id: event.pointerId, start, end: start, x: event.clientX, y: event.clientY, moved: false };
    }

    onPointerMove(event) {
        if (!this.drag || event.pointerId !== this.drag.id) return;
        this.drag.end = this.fraction(event);
        this.drag.moved ||= Math.hypot(event.clientX - this.drag.x, event.clientY - this.drag.y) >= CLICK_SLOP_PX;
        this.draw();
    }

    onPointerUp(event) {
        if (!this.drag || event.pointerId !== this.drag.id) return;
        event.stopPropagation();
        this.drag.end = this.fraction(event);
        this.drag.moved ||= Math.hypot(event.clientX - this.drag.x, event.clientY - this.drag.y) >= CLICK_SLOP_PX;
        const { start, end, moved } = this.drag;
        this.drag = null;
        this.canvas.releasePointerCapture?.(event.pointerId);
        const arrow = [...start, ...end].map(round4);
        if (moved && (arrow[0] !== arrow[2] || arrow[1] !== arrow[3])) this.add("arrow", arrow);
        else this.add("anchor", start);
    }

    cancelDrag() {
        this.drag = null;
        this.draw();
    }

    forwardWheel(event) { // zoom the graph over the editor like over any other part of the node
        const target = app.canvas?.canvas;
        if (!target) return;
        event.preventDefault();
        event.stopPropagation();
        const { clientX, clientY, deltaX, deltaY, deltaMode, ctrlKey, metaKey, shiftKey } = event;
        target.dispatchEvent(new WheelEvent("wheel", { clientX, clientY, deltaX, deltaY, deltaMode, ctrlKey, metaKey,
                                                      shiftKey, bubbles: true, cancelable: true }));
    }

    // ---- drawing ----------------------------------------------------------------------------------------------

    /** Classic canvas: the frontend sizes the DOM widget (getMinHeight) and the stage fills it. Vue node renderer:
     * the element sits in a plain block, so the stage takes its height from the picture's aspect ratio. */
    fitMode() {
        const sized = this.root.parentElement?.classList.contains("dom-widget") ?? true;
        const style = sized ? { flex: "1 1 auto", aspectRatio: "auto", maxHeight: "none" }
            : { flex: "0 0 auto", aspectRatio: String(this.aspect), maxHeight: `${MAX_CANVAS_PX}px` };
        if (this.stage.style.aspectRatio !== style.aspectRatio || this.stage.style.flex !== style.flex) {
            Object.assign(this.stage.style, style);
        }
    }

    /** Fit the canvas to the picture's aspect inside the stage, at device resolution. */
    layout() {
        this.fitMode();
        const width = this.stage.clientWidth;
        const height = this.stage.clientHeight;
        if (!width || !height) return;
        const aspect = this.aspect;
        const cssWidth = Math.max(1, Math.floor(Math.min(width, height * aspect)));
        const cssHeight = Math.max(1, Math.floor(Math.min(height, width / aspect)));
        const ratio = window.devicePixelRatio || 1;
        this.canvas.style.width = `${cssWidth}px`;
        this.canvas.style.height = `${cssHeight}px`;
        this.canvas.width = Math.round(cssWidth * ratio);
        this.canvas.height = Math.round(cssHeight * ratio);
        this.draw();
    }

    draw() {
        const count = `${this.arrows.length} arrow${this.arrows.length === 1 ? "" : "s"} · ${this.anchors.length} `
            + `anchor${this.anchors.length === 1 ? "" : "s"}`;
        this.status.textContent = this.note ?? (this.linked ? "arrows come from a link" : this.error ?? count);
        this.status.style.color = this.error || this.note ? "#f88" : "#bbb";
        this.undoButton.disabled = this.clearButton.disabled = this.linked;

        const ctx = this.canvas.getContext("2d");
        const { width, height } = this.canvas;
        if (!width || !height) return;
        const unit = width / (this.canvas.clientWidth || width); // device px per CSS px
        ctx.clearRect(0, 0, width, height);
        if (this.image) {
            ctx.drawImage(this.image, 0, 0, width, height);
            if (this.regions) ctx.drawImage(this.regions, 0, 0, width, height);
        } else {
            ctx.fillStyle = "#2a2a2a";
            ctx.fillRect(0, 0, width, height);
            ctx.fillStyle = "#888";
            ctx.font = `${12 * unit}px sans-serif`;
            ctx.textAlign = "center";
            ctx.fillText("Connect an image (Load Image) or run once", width / 2, height / 2 - 8 * unit);
            ctx.fillText("to draw on it. Drag = arrow, click = anchor.", width / 2, height / 2 + 10 * unit);
        }
        for (const arrow of this.arrows) this.drawArrow(ctx, arrow, unit, "#ffd43b");
        for (const anchor of this.anchors) this.drawAnchor(ctx, anchor, unit);
        if (this.drag?.moved) this.drawArrow(ctx, [...this.drag.start, ...this.drag.end], unit, "#74c0fc");
    }

    drawArrow(ctx, [x0, y0, x1, y1], unit, colour) {
        const { width, height } = this.canvas;
        const [ax, ay, bx, by] = [x0 * width, y0 * height, x1 * width, y1 * height];
        const angle = Math.atan2(by - ay, bx - ax);
        const head = Math.min(10 * unit, Math.hypot(bx - ax, by - ay) * 0.6);
        const path = new Path2D();
        path.moveTo(ax, ay);
        path.lineTo(bx, by);
        path.moveTo(bx - head * Math.cos(angle - 0.45), by - head * Math.sin(angle - 0.45));
        path.lineTo(bx, by);
        path.lineTo(bx - head * Math.cos(angle + 0.45), by - head * Math.sin(angle + 0.45));
        ctx.lineCap = ctx.lineJoin = "round";
        ctx.strokeStyle = "rgba(0, 0, 0, 0.75)";
        ctx.lineWidth = 4.5 * unit;
        ctx.stroke(path);
        ctx.strokeStyle = colour;
        ctx.lineWidth = 2 * unit;
        ctx.stroke(path);
    }

    drawAnchor(ctx, [x, y], unit) {
        const cx = x * this.canvas.width;
        const cy = y * this.canvas.height;
        ctx.beginPath();
        ctx.arc(cx, cy, 5 * unit, 0, 2 * Math.PI);
        ctx.fillStyle = "#ff6b6b";
        ctx.fill();
        ctx.lineWidth = 2 * unit;
        ctx.strokeStyle = "#fff";
        ctx.stroke();
    }
}

function syncAll() {
    for (const editor of editors) editor.sync();
}

// No polling and no work per canvas redraw: the editor follows the app's events. graphChanged (the change tracker:
// a picked or uploaded file, a mask-editor result, undo/redo), a configured (loaded) graph, the `image` widget
// callbacks of other nodes, its own node's callbacks (configure, connections, executed) and the `arrows` widget.
app.registerExtension({
    name: "text2cinemagraph.motionEditor",
    async setup() {
        api.addEventListener("graphChanged", syncAll);
    },
    async afterConfigureGraph() {
        syncAll();
    },
    nodeCreated(node) {
        const imageWidget = node.widgets?.find((w) => w.name === "image");
        if (imageWidget && node.type !== NODE_TYPE) chainCallback(imageWidget, "callback", () => syncAll());
    },
    async beforeRegisterNodeDef(nodeType, nodeData) {
        if (nodeData?.name !== NODE_TYPE) return;

        chainCallback(nodeType.prototype, "onNodeCreated", function () {
            const editor = new MotionEditor(this);
            this.t2cMotionEditor = editor;
            const widget = this.addDOMWidget("motion_editor", "t2c_motion_editor", editor.root, {
                serialize: false,
                hideOnZoom: true,
                getValue: () => undefined,
                setValue: () => {},
                getMinHeight: () => editor.minHeight(),
            });
            widget.serialize = false; // not in widgets_values, not in the prompt: the `arrows` widget carries the drawing
            editor.attach();
        });
        chainCallback(nodeType.prototype, "onAdded", function () {
            this.t2cMotionEditor?.attach();
        });
        chainCallback(nodeType.prototype, "onConfigure", function () {
            this.t2cMotionEditor?.sync();
        });
        chainCallback(nodeType.prototype, "onConnectionsChange", function () {
            this.t2cMotionEditor?.sync();
        });
        chainCallback(nodeType.prototype, "onExecuted", function (output) {
            this.t2cMotionEditor?.setLastRun(output);
        });
        chainCallback(nodeType.prototype, "onRemoved", function () {
            this.t2cMotionEditor?.dispose();
        });
    },
});
