// Save Cinemagraph: the frontend previews an mp4 result as <video controls loop> but leaves it paused on its first
// frame. A cinemagraph is meant to be seen moving, so each new preview video of the node plays muted, looping.
// GIF/WebP results are shown as animated <img> by the frontend and loop by themselves.
import { app } from "../../../scripts/app.js";
import { chainCallback } from "./t2c_common.js";

const NODE_TYPE = "T2C_SaveCinemagraph";
const saveNodes = new Set();
const started = new WeakSet(); // videos configured once: a user who pauses one is not overridden
let timer = null;

function previewVideos(node) {
    const videos = [];
    for (const widget of node.widgets ?? []) { // classic canvas: the preview is a DOM widget
        const element = widget.element;
        if (element instanceof HTMLVideoElement) videos.push(element);
        else if (element?.querySelectorAll) videos.push(...element.querySelectorAll("video"));
    }
    if (node.id != null) { // Vue node renderer: the preview sits inside the node's element
        videos.push(...document.querySelectorAll(`[data-node-id="${CSS.escape(String(node.id))}"] video`));
    }
    return videos;
}

function autoplay(node) {
    for (const video of previewVideos(node)) {
        if (started.has(video)) continue;
        started.add(video);
        video.dataset.t2c = "save-preview";
        video.muted = video.defaultMuted = true;
        video.loop = video.autoplay = video.playsInline = true;
        video.play?.()?.catch?.(() => {}); // autoplay may be refused until the user interacts: controls remain
    }
}

function check() {
    for (const node of saveNodes) autoplay(node);
}

app.registerExtension({
    name: "Text2Cinemagraph.savePreview",
    async beforeRegisterNodeDef(nodeType, nodeData) {
        if (nodeData?.name !== NODE_TYPE) return;
        chainCallback(nodeType.prototype, "onNodeCreated", function () {
            saveNodes.add(this);
            timer ??= setInterval(check, 500); // the frontend loads the video after onExecuted, asynchronously
        });
        chainCallback(nodeType.prototype, "onRemoved", function () {
            saveNodes.delete(this);
        });
        chainCallback(nodeType.prototype, "onExecuted", function () {
            for (const delay of [50, 200, 600]) setTimeout(() => autoplay(this), delay);
        });
    },
});
