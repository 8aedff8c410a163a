// Save Cinemagraph: the frontend previews a video result (mp4, webm, a live photo's MOV) as <video controls loop> but
// leaves it paused on its first frame. A cinemagraph is meant to be seen moving, so each new preview video of the
// node plays muted, looping. GIF/WebP/APNG results (and a motion photo's still) are shown as <img> by the frontend;
// the animated ones loop by themselves.
//
// No polling: the frontend builds the <video> after onExecuted, asynchronously and detached (it is inserted into
// the node's preview once it has loaded), in either renderer (classic canvas DOM widget or Vue node). From our
// node's onExecuted until that video shows up, a MutationObserver watches for it being inserted; it disconnects
// as soon as every pending result has been configured.
import { app } from "../../../scripts/app.js";
import { chainCallback } from "./t2c_common.js";

const NODE_TYPE = "T2C_SaveCinemagraph";
const VIDEO_FILE = /\.(mp4|webm|mov)$/i;
const pending = new Set(); // "subfolder/filename" of video results whose preview video has not appeared yet
const started = new WeakSet(); // videos configured once: a user who pauses one is not overridden
let observer = null;

function fileKey(filename, subfolder = "") {
    return `${subfolder ?? ""}/${filename}`;
}

function videoKey(video) {
    const source = video.currentSrc || video.src || video.querySelector?.("source")?.src;
    if (!source) return null;
    try {
        const url = new URL(source, window.location.href);
        const filename = url.searchParams.get("filename");
        return filename == null ? null : fileKey(filename, url.searchParams.get("subfolder") ?? "");
    } catch {
        return null;
    }
}

function autoplay(video) {
    if (started.has(video)) return;
    started.add(video);
    video.muted = video.defaultMuted = true;
    video.loop = video.autoplay = video.playsInline = true;
    video.play?.()?.catch?.(() => {}); // autoplay may be refused until the user interacts: controls remain
}

function inspect(element) {
    const videos = element instanceof HTMLVideoElement ? [element] : [...(element.querySelectorAll?.("video") ?? [])];
    for (const video of videos) {
        const key = videoKey(video);
        if (key && pending.has(key)) {
            pending.delete(key);
            autoplay(video);
        }
    }
}

function onMutations(records) {
    for (const record of records) {
        for (const added of record.addedNodes) inspect(added);
        if (record.type === "attributes") inspect(record.target);
    }
    if (!pending.size) {
        observer?.disconnect();
        observer = null;
    }
}

function expect(key) {
    pending.add(key);
    if (!observer) {
        observer = new MutationObserver(onMutations);
        observer.observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["src"] });
    }
    inspect(document.body); // the preview may already be in place (a re-run of the same file name)
}

app.registerExtension({
    name: "text2cinemagraph.savePreview",
    async beforeRegisterNodeDef(nodeType, nodeData) {
        if (nodeData?.name !== NODE_TYPE) return;
        chainCallback(nodeType.prototype, "onExecuted", function (output) {
            for (const item of output?.images ?? []) {
                if (VIDEO_FILE.test(String(item?.filename ?? ""))) expect(fileKey(item.filename, item.subfolder));
            }
        });
    },
});
