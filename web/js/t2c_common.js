// Small helpers shared by the Text2Cinemagraph web extensions (no extension is registered here).
import { api } from "../../../scripts/api.js";

/** Chain `fn` after `object[name]` (the frontend's or another extension's handler keeps running first). */
export function chainCallback(object, name, fn) {
    const original = object[name];
    object[name] = function (...args) {
        const result = original?.apply(this, args);
        fn.apply(this, args);
        return result;
    };
}

/** `/view` URL of a file ComfyUI serves: {filename, subfolder, type} as in a node's UI output. */
export function viewUrl({ filename, subfolder = "", type = "output" }) {
    const query = new URLSearchParams({ filename, subfolder, type });
    return api.apiURL(`/view?${query}`);
}

/** A LoadImage-style widget value "sub/name.png [input]" → {filename, subfolder, type}. */
export function parseAnnotatedName(value, defaultType = "input") {
    let name = String(value).trim();
    let type = defaultType;
    const annotation = name.match(/^(.*?)\s*\[(input|output|temp)\]$/);
    if (annotation) {
        name = annotation[1];
        type = annotation[2];
    }
    const slash = name.lastIndexOf("/");
    return slash < 0
        ? { filename: name, subfolder: "", type }
        : { filename: name.slice(slash + 1), subfolder: name.slice(0, slash), type };
}

/** Index of the input slot `inputName` of `node`, or −1. */
export function inputSlot(node, inputName) {
    return node.inputs?.findIndex((i) => i.name === inputName) ?? -1;
}

/** The node feeding input `inputName` of `node` (through legacy Reroute nodes), or null. Asks the node
 * (getInputNode, in both frontends) rather than reading `input.link`, which the current frontend deprecates. */
export function upstreamNode(node, inputName) {
    let current = node;
    let slot = inputSlot(node, inputName);
    for (let hop = 0; hop < 8 && slot >= 0 && current.graph; hop++) {
        const origin = current.getInputNode(slot);
        if (!origin || !String(origin.type).includes("Reroute")) return origin ?? null;
        current = origin;
        slot = 0;
    }
    return null;
}
