"""Generate the bundled text-to-cinemagraph workflows in ``workflows/`` (UI format, as the frontend saves them).

    .venv/bin/python scripts/build_workflows.py           # start a ComfyUI, read /object_info, write the files
    .venv/bin/python scripts/build_workflows.py --check   # exit 1 if a file differs from what would be written

Each workflow is described below as nodes placed in columns (left to right) and wired by output name; the node
schemas (input order, which inputs are widgets, output names) come from the server's ``/object_info``, so the
files follow the nodes. ``animate_painting.json`` is hand-made and not touched. Edit this script, not the JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from comfy_server import REPO_ROOT, ComfyServer

WORKFLOW_DIR = REPO_ROOT / "workflows"
# The SD1.5 file ComfyUI's own templates use; the loader carries it in ``properties.models`` (name, url,
# directory) as they do, so the frontend offers the download when the file is missing.
CHECKPOINT = "v1-5-pruned-emaonly-fp16.safetensors"
CHECKPOINT_MODEL = {
    "name": CHECKPOINT,
    "url": "https://huggingface.co/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/"
           "v1-5-pruned-emaonly-fp16.safetensors?download=true",
    "directory": "checkpoints",
}
TEXT_FLOW_WEIGHTS = "motion-pretrained/latest_net_G.pth"
HINT_FLOW_WEIGHTS = "motion-direction-pretrained/latest_net_G.pth"
VIDEO_WEIGHTS = "video-pretrained/latest_net_G.pth"

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload", "animated_image_upload")
FRONTEND_ONLY = {"Note": ["text"]}
"""Nodes that exist only in the frontend: their widgets (they have no /object_info entry)."""

SIZES = {  # the frontend's default sizes, previews enlarged to show their image
    "CheckpointLoaderSimple": (320, 98), "T2C_TwinPrompt": (400, 200), "CLIPTextEncode": (400, 120),
    "EmptyLatentImage": (320, 106), "StringConcatenate": (400, 170), "T2C_TwinSampler": (360, 448),
    "VAEDecode": (200, 46), "VAEEncode": (200, 46), "PreviewImage": (360, 380), "T2C_RegionMask": (340, 266),
    "T2C_TextFlow": (400, 663), "T2C_FlowModelLoader": (400, 58), "T2C_VideoModelLoader": (400, 58),
    "T2C_Animate": (340, 190), "T2C_SaveCinemagraph": (360, 420), "LoadImage": (360, 420),
    "LoadImageMask": (320, 340), "T2C_FlowPreview": (320, 130),
}
COLUMN_GAP, ROW_GAP, TITLE_HEIGHT = 80, 40, 30
NOTE_COLOURS = {"color": "#432", "bgcolor": "#653"}
PROMPT_COLOURS = {"color": "#232", "bgcolor": "#353"}
EMPTY_COLOURS = {"color": "#322", "bgcolor": "#533"}


# ------------------------------------------------------------------------------------------------ graph model


@dataclass(frozen=True)
class Output:
    node: Node
    slot: int
    type: str


@dataclass(eq=False)
class Node:
    id: int
    type: str
    column: int
    width: int
    height: int
    values: dict
    links: dict = field(default_factory=dict)  # input name → Output
    title: str | None = None
    colours: dict = field(default_factory=dict)
    outputs: list = field(default_factory=list)  # [(name, type)]
    pos: tuple[int, int] = (0, 0)
    models: list = field(default_factory=list)  # properties.models: files the node loads, with download info

    def __getitem__(self, name: str) -> Output:
        for slot, (output, kind) in enumerate(self.outputs):
            if output == name:
                return Output(self, slot, kind)
        raise KeyError(f"{self.type} has no output {name!r}; it has {[n for n, _ in self.outputs]}")


def _options(spec) -> dict:
    return (spec[1] if len(spec) > 1 else {}) or {}


def _is_widget(spec) -> bool:
    return not _options(spec).get("forceInput") and (isinstance(spec[0], list) or spec[0] in WIDGET_TYPES)


def _widget_type(spec) -> str:
    return "COMBO" if isinstance(spec[0], list) else spec[0]


class Workflow:
    """Nodes in columns, links by output name; ``to_json`` lays them out and writes the UI format."""

    def __init__(self, object_info: dict):
        self.info = object_info
        self.nodes: list[Node] = []

    def _inputs(self, node_type: str) -> list[tuple[str, list, bool]]:
        """(name, spec, optional) in the order the frontend creates the node's inputs."""
        info = self.info[node_type]["input"]
        return [(name, spec, section == "optional") for section in ("required", "optional")
                for name, spec in info.get(section, {}).items()]

    def add(self, node_type: str, column: int, *, title: str | None = None, colours: dict | None = None,
            models: list | None = None, **inputs) -> Node:
        """A node; each keyword is an input: an Output links it, anything else is its widget value."""
        if node_type not in self.info:
            raise KeyError(f"{node_type} is not a node of this ComfyUI")
        known = {name for name, _, _ in self._inputs(node_type)}
        if unknown := set(inputs) - known:
            raise KeyError(f"{node_type} has no input {sorted(unknown)}; it has {sorted(known)}")
        values = {k: v for k, v in inputs.items() if not isinstance(v, Output)}
        links = {k: v for k, v in inputs.items() if isinstance(v, Output)}
        width, height = SIZES.get(node_type, (320, 120))
        info = self.info[node_type]
        node = Node(len(self.nodes) + 1, node_type, column, width, height, values, links,
                    title, dict(colours or {}), list(zip(info["output_name"], info["output"], strict=True)),
                    models=[dict(model) for model in models or []])
        self.nodes.append(node)
        return node

    def note(self, column: int, text: str, *, title: str | None = None, width: int = 400) -> Node:
        lines = sum(max(1, math.ceil(len(line) / (width / 7.2))) for line in text.split("\n"))
        node = Node(len(self.nodes) + 1, "Note", column, width, 24 + 17 * lines, {"text": text}, title=title,
                    colours=dict(NOTE_COLOURS))
        self.nodes.append(node)
        return node

    # -------------------------------------------------------------------------------------------- serialisation

    def _layout(self) -> None:
        columns = sorted({node.column for node in self.nodes})
        x = 0.0
        for column in columns:
            members = [node for node in self.nodes if node.column == column]
            y = 0.0
            for node in members:
                node.pos = (round(x), round(y))
                y += node.height + TITLE_HEIGHT + ROW_GAP
            x += max(node.width for node in members) + COLUMN_GAP

    def _widget_values(self, node: Node) -> list:
        if node.type in FRONTEND_ONLY:
            return [node.values[name] for name in FRONTEND_ONLY[node.type]]
        values, upload = [], False
        for name, spec, _ in self._inputs(node.type):
            if not _is_widget(spec):
                continue
            options = _options(spec)
            if name in node.values:
                value = node.values[name]
            elif "default" in options:
                value = options["default"]
            elif node.links.get(name) is not None:
                value = ""
            else:
                raise ValueError(f"{node.type}.{name} has no default: give its value")
            values.append(int(value) if isinstance(value, float) and value.is_integer() else value)  # as JS writes
            if options.get("control_after_generate") or name in ("seed", "noise_seed"):
                values.append("fixed")  # the frontend's control_after_generate widget; fixed = reproducible
            upload |= any(options.get(flag) for flag in UPLOAD_FLAGS)
        # the upload button's value, as the frontend saves it: its widget comes after the node's own widgets
        return [*values, "image"] if upload else values

    def _order(self, links: list[list]) -> dict[int, int]:
        """Execution order as LiteGraph computes it on load: nodes without linked inputs in id order, then a
        first-in-first-out walk along each output's links."""
        remaining = {node.id: len(node.links) for node in self.nodes}
        queue = [node.id for node in self.nodes if not node.links]
        targets: dict[int, list[int]] = {}
        for _, origin, _, target, _, _ in sorted(links, key=lambda link: (link[1], link[2], link[0])):
            targets.setdefault(origin, []).append(target)
        order: dict[int, int] = {}
        while queue:
            node_id = queue.pop(0)
            order[node_id] = len(order)
            for target in targets.get(node_id, []):
                remaining[target] -= 1
                if remaining[target] == 0:
                    queue.append(target)
        if len(order) != len(self.nodes):
            raise ValueError("the workflow has a cycle")
        return order

    def to_json(self, scale: float = 0.65) -> dict:
        self._layout()
        links, nodes = [], []
        outgoing: dict[tuple[int, int], list[int]] = {}
        for node in self.nodes:
            inputs = []
            if node.type not in FRONTEND_ONLY:
                specs = self._inputs(node.type)
                sockets = [(n, s, o) for n, s, o in specs if not _is_widget(s)]
                widgets = [(n, s, o) for n, s, o in specs if _is_widget(s)]
                for name, spec, optional in sockets + widgets:
                    entry = {"localized_name": name, "name": name}
                    if optional:
                        entry["shape"] = 7  # the frontend's hollow "optional" socket
                    entry["type"] = _widget_type(spec) if _is_widget(spec) else spec[0]
                    if _is_widget(spec):
                        entry["widget"] = {"name": name}
                    source = node.links.get(name)
                    if source is not None:
                        links.append([len(links) + 1, source.node.id, source.slot, node.id, len(inputs),
                                      source.type])
                        outgoing.setdefault((source.node.id, source.slot), []).append(len(links))
                    entry["link"] = links[-1][0] if source is not None else None
                    inputs.append(entry)
                if any(_options(spec).get(flag) for _, spec, _ in widgets for flag in UPLOAD_FLAGS):
                    inputs.append({"localized_name": "choose file to upload", "name": "upload", "type": "IMAGEUPLOAD",
                                   "widget": {"name": "upload"}, "link": None})  # after the node's own widgets
            nodes.append((node, inputs))
        serial, order = [], self._order(links)
        for node, inputs in nodes:
            entry = {"id": node.id, "type": node.type, "pos": list(node.pos), "size": [node.width, node.height],
                     "flags": {}, "order": order[node.id], "mode": 0, "inputs": inputs,
                     "outputs": [{"localized_name": name, "name": name, "type": kind,
                                  "links": outgoing.get((node.id, slot))}
                                 for slot, (name, kind) in enumerate(node.outputs)]}
            if node.title:
                entry["title"] = node.title
            entry["properties"] = {} if node.type in FRONTEND_ONLY else {"Node name for S&R": node.type}
            if node.models:
                entry["properties"]["models"] = node.models
            entry["widgets_values"] = self._widget_values(node)
            entry.update(node.colours)
            serial.append(entry)
        return {
            "last_node_id": len(self.nodes), "last_link_id": len(links), "nodes": serial, "links": links,
            "groups": [],
            "config": {}, "extra": {"ds": {"scale": scale, "offset": [150, 250]}}, "version": 0.4,
        }


# ------------------------------------------------------------------------------------------------ the workflows

CHECKPOINT_NOTE = (
    "Checkpoint: any Stable Diffusion 1.x model (SD 1.4, SD 1.5 or a fine-tune) in ComfyUI/models/checkpoints/. "
    f"Selected: {CHECKPOINT}, the SD1.5 file of ComfyUI's own templates (ComfyUI offers its download from "
    "huggingface.co/Comfy-Org/stable-diffusion-v1-5-archive when it is missing). SDXL, SD2 and later models do "
    "not work here: the twin sampler copies features between SD1.x UNet blocks."
)
OFFICIAL_FILES_NOTE = (
    "Where the network files come from: the official Text2Cinemagraph release (Mahapatra et al., arXiv "
    "2307.03190) publishes its trained networks as checkpoints.tar, linked from the authors' project README; "
    "there is no direct download URL for ComfyUI to offer. Unpack it and put the folders in "
    "ComfyUI/models/text2cinemagraph/ (sub-folders are fine):\n"
    "  motion-pretrained/latest_net_G.pth (text flow)\n"
    "  motion-direction-pretrained/latest_net_G.pth (direction-hint flow)\n"
    "  video-pretrained/latest_net_G.pth (video)\n"
    ".pth files are read safely (weights only); scripts/convert_checkpoint.py writes a .safetensors copy. "
    "No files? Use the workflow of the same name without \"official networks\": it needs no weights."
)
SAMPLER_NOTE = (
    "Twin Sampler: the artistic image and its realistic twin from the same noise, in one pass. The official "
    "settings are 50 DDIM steps, cfg 5 (artistic) and 7.5 (twin). Fewer steps (20-30) are faster and usually "
    "fine. Change the seed for another picture (it is fixed so a re-run gives the same loop)."
)
MASK_NOTE = (
    "Region Mask: finds what moves from the words (what the prompt calls the water, clouds, smoke ...) and the "
    "sampler's attention, which is why its prompt input is wired. Empty mask or the wrong part? Edit the words, "
    "or put CLIP weights in ComfyUI/models/text2cinemagraph/clip/ (backend auto then uses them). To decide "
    "yourself: save the twin, open it in a Load Image node, paint the moving part in the mask editor "
    "(right-click → Open in MaskEditor) and connect that node's MASK to Region Mask's mask input."
)
PAINTING_SAMPLER_NOTE = (
    "Twin Sampler with a reference: the painting (VAE Encode) is inverted with the empty prompt, then the twin "
    "is sampled from it while the painting's features steer its layout; the artistic output is the painting "
    "itself. Inversion and sampling each take the set steps (50 = official), so this is about twice the work "
    "of a text prompt. The seed does not matter here: the inversion is deterministic."
)
ANIMATE_NOTE = (
    "Animate: frames = loop length (60 = 2 s at 30 fps, 120 for large, slow water). The sharp loop engine keeps the "
    "picture's detail; if the log warns that texture must travel out of its region, use fewer frames or a lower "
    "speed. Save writes an endlessly looping mp4, gif or webp to ComfyUI/output/cinemagraph/."
)


def _text_to_image(wf: Workflow, prompt: str, seed: int, *, painting: Node | None = None,
                   clusters: tuple[int, str, int] = (5, "spectral", 0)):
    """The shared front half: checkpoint → prompts → twin sampler → twin image, attention and mask."""
    checkpoint = wf.add("CheckpointLoaderSimple", 0, ckpt_name=CHECKPOINT, models=[CHECKPOINT_MODEL])
    wf.note(0, CHECKPOINT_NOTE, title="Note: checkpoint")
    prompts = wf.add("T2C_TwinPrompt", 0, prompt=prompt, twin_prompt="")
    if painting is None:
        latent = wf.add("EmptyLatentImage", 0, width=512, height=512, batch_size=1)["LATENT"]
    else:
        latent = wf.add("VAEEncode", 0, pixels=painting["IMAGE"], vae=checkpoint["VAE"])["LATENT"]
    clip = checkpoint["CLIP"]
    artistic = wf.add("CLIPTextEncode", 1, title="Artistic prompt", colours=PROMPT_COLOURS, clip=clip,
                      text=prompts["artistic"])
    twin = wf.add("CLIPTextEncode", 1, title="Twin prompt (realistic)", colours=PROMPT_COLOURS, clip=clip,
                  text=prompts["twin"])
    empty = wf.add("CLIPTextEncode", 1, title="Empty prompt (unconditional)", colours=EMPTY_COLOURS, clip=clip,
                   text="")
    motion_text = wf.add("StringConcatenate", 1, title="Motion text (twin words + direction)",
                         string_a=prompts["twin"], string_b=prompts["direction"], delimiter=", ")
    sampler = wf.add("T2C_TwinSampler", 2, model=checkpoint["MODEL"], positive=artistic["CONDITIONING"],
                     twin_positive=twin["CONDITIONING"], unconditional=empty["CONDITIONING"], latent=latent,
                     seed=seed, prompt=prompts["artistic"],
                     **({"reference": latent} if painting is not None else {}))
    wf.note(2, SAMPLER_NOTE if painting is None else PAINTING_SAMPLER_NOTE, title="Note: sampler", width=360)
    decode_twin = wf.add("VAEDecode", 3, title="Decode twin", samples=sampler["twin"], vae=checkpoint["VAE"])
    decoded_artistic = None
    if painting is None:
        decoded_artistic = wf.add("VAEDecode", 3, title="Decode artistic", samples=sampler["artistic"],
                                  vae=checkpoint["VAE"])
        wf.add("PreviewImage", 3, title="Artistic image", images=decoded_artistic["IMAGE"])
    wf.add("PreviewImage", 3, title="Realistic twin", images=decode_twin["IMAGE"])
    n_clusters, cluster_type, erosion = clusters
    region = wf.add("T2C_RegionMask", 4, image=decode_twin["IMAGE"], attention=sampler["attention"],
                    n_clusters=n_clusters, cluster_type=cluster_type, erosion_iterations=erosion)
    wf.add("PreviewImage", 4, title="Mask preview", images=region["preview"])
    wf.note(4, MASK_NOTE, title="Note: mask", width=340)
    return {"checkpoint": checkpoint, "prompts": prompts, "artistic_encode": artistic, "sampler": sampler,
            "twin": decode_twin, "artistic": decoded_artistic, "region": region, "motion_text": motion_text}


def _flow_and_loop(wf: Workflow, parts: dict, picture: Output, prefix: str, *, flow_model: Output | None,
                   video_model: Output | None = None, frames: int = 60, speed: float = 1.0,
                   max_px: float = 0.0, layers: Output | None = None) -> tuple[Node, Node]:
    """The shared back half: Text Flow on the twin (on top of ``layers``, a stack from other Text Flows) →
    Animate ``picture`` → Save, with their previews."""
    flow = wf.add("T2C_TextFlow", 5, image=parts["twin"]["IMAGE"], mask=parts["region"]["mask"],
                  text=parts["motion_text"]["STRING"], conditioning=parts["artistic_encode"]["CONDITIONING"],
                  **({"flow_model": flow_model} if flow_model is not None else {}),
                  **({"layers": layers} if layers is not None else {}))
    wf.add("PreviewImage", 5, title="Flow preview", images=flow["preview"])
    return flow, _loop(wf, picture, flow["flow"], prefix, mask=None if layers is not None else parts["region"]["mask"],
                       video_model=video_model, frames=frames, speed=speed, max_px=max_px)


def _loop(wf: Workflow, picture: Output, flow: Output, prefix: str, *, mask: Output | None,
          video_model: Output | None = None, frames: int = 60, speed: float = 1.0, max_px: float = 0.0) -> Node:
    """Animate ``picture`` along ``flow`` (a stack carries its own regions: no ``mask``) → Save."""
    animate = wf.add("T2C_Animate", 6, image=picture, flow=flow, frames=frames, speed=speed,
                     max_px_per_frame=max_px, engine="sharp loop",
                     **({"mask": mask} if mask is not None else {}),
                     **({"video_model": video_model} if video_model is not None else {}))
    wf.note(6, ANIMATE_NOTE, title="Note: animate", width=340)
    wf.add("T2C_SaveCinemagraph", 6, frames=animate["frames"], filename_prefix=f"cinemagraph/{prefix}")
    return animate


TEXT_PROMPT = "a large waterfall falling from hills during sunset in the style of Leonid Afremov"
LAYERS_PROMPT = ("a large waterfall falling from hills into a lake under a cloudy sky during sunset in the style of "
                 "Leonid Afremov")
DIRECTION_PROMPT = ("a large waterfall flowing in downwards direction from hills during sunset in the style of "
                    "Leonid Afremov")
DIRECTION_HELP = (
    "The direction phrase (here \"in downwards direction\"; also \"in right to left, upwards direction\", "
    "\"flowing to the left\", \"at 30 degrees\" ...) is taken out of the prompt before sampling (official) "
    "and handed to Text Flow, which turns it into the motion."
)


def text_to_cinemagraph(info: dict) -> dict:
    wf = Workflow(info)
    wf.note(0, (
        "Text → cinemagraph (Text2Cinemagraph). Write the prompt in Twin Prompt and press Queue: the twin sampler "
        "makes the artistic image and a realistic twin with the same layout; Region Mask finds the water (or "
        "clouds, smoke ...) on the twin; Text Flow decides how it moves; Animate loops the artistic image along "
        "that flow.\n"
        "Direction: write it in the prompt (\"in downwards direction\", \"flowing to the left\", \"at 30 "
        "degrees\"), pick it in Text Flow's direction, or draw arrows in its motion editor. Otherwise it follows "
        "what the prompt names (waterfall → down, clouds → sideways, smoke → up).\n"
        "Only the SD1.x checkpoint is needed: flow and animation are learning-free. The official trained networks "
        "are used by text_to_cinemagraph_official_networks."), title="Read me", width=400)
    parts = _text_to_image(wf, TEXT_PROMPT, seed=23)
    _flow_and_loop(wf, parts, parts["artistic"]["IMAGE"], "text", flow_model=None)
    return wf.to_json()


def text_to_cinemagraph_official_networks(info: dict) -> dict:
    wf = Workflow(info)
    wf.note(0, (
        "Text → cinemagraph with the official networks: the text-conditioned flow network predicts the motion "
        "from the twin, the mask and the artistic prompt; the softmax-splatting video network renders the loop "
        "(official settings: flow clamped to 1 px/frame, speed 0.5).\n" + OFFICIAL_FILES_NOTE),
        title="Read me", width=400)
    parts = _text_to_image(wf, TEXT_PROMPT, seed=23)
    loader = wf.add("T2C_FlowModelLoader", 5, title="Load Flow Model (text)", weights=TEXT_FLOW_WEIGHTS)
    wf.note(5, (
        "The text flow network (motion-pretrained) reads the artistic prompt's CLIP conditioning (wired from the "
        "Artistic prompt node); direction words and arrows do not steer it. dtype auto = what ComfyUI picks for "
        "your device (fp32 on a CPU)."), title="Note: flow network", width=400)
    video = _video_loader(wf)
    _flow_and_loop(wf, parts, parts["artistic"]["IMAGE"], "text_networks", flow_model=loader["flow_model"],
                   video_model=video["video_model"], speed=0.5, max_px=1.0)
    return wf.to_json()


def _video_loader(wf: Workflow) -> Node:
    loader = wf.add("T2C_VideoModelLoader", 5, title="Load Video Model (official)", weights=VIDEO_WEIGHTS)
    wf.note(5, (
        "The official video network (video-pretrained) renders each frame from the image and the flow; it works "
        "at about 512 px (the learning-free pixel engine, used when video_model is not connected, runs at any "
        "size). Official speed with it: 0.5, or 0.3 for directional prompts; max_px_per_frame 1."),
        title="Note: video network", width=400)
    return loader


def text_direction(info: dict) -> dict:
    wf = Workflow(info)
    wf.note(0, (
        "Text → cinemagraph with a direction in the prompt.\n" + DIRECTION_HELP + "\n"
        "Only the SD1.x checkpoint is needed: the learning-free engine moves the water that way. "
        "text_direction_official_networks runs the same prompt through the official direction-hint and video "
        "networks."), title="Read me", width=400)
    parts = _text_to_image(wf, DIRECTION_PROMPT, seed=100, clusters=(10, "kmeans", 2))
    _flow_and_loop(wf, parts, parts["artistic"]["IMAGE"], "direction", flow_model=None)
    return wf.to_json()


def text_direction_official_networks(info: dict) -> dict:
    wf = Workflow(info)
    wf.note(0, (
        "Text → cinemagraph with a direction in the prompt, through the official direction-hint flow network and "
        "the official video network (official directional settings: 120 frames, speed 0.3, flow clamped to "
        "1 px/frame).\n" + DIRECTION_HELP + "\n" + OFFICIAL_FILES_NOTE), title="Read me", width=400)
    parts = _text_to_image(wf, DIRECTION_PROMPT, seed=100, clusters=(10, "kmeans", 2))
    loader = wf.add("T2C_FlowModelLoader", 5, title="Load Flow Model (direction hint)", weights=HINT_FLOW_WEIGHTS)
    wf.note(5, (
        "The direction-hint network predicts the flow from the twin, the mask and the direction (combo, arrows or "
        "the prompt's phrase). hint_px_per_frame 64 is the official hint. Its flow is clamped to ±1 px/frame in "
        "Animate (max_px_per_frame 1, official) and slowed by speed 0.3 over 120 frames (official directional "
        "settings); raise speed for faster water."), title="Note: direction network", width=400)
    video = _video_loader(wf)
    _flow_and_loop(wf, parts, parts["artistic"]["IMAGE"], "direction_networks", flow_model=loader["flow_model"],
                   video_model=video["video_model"], frames=120, speed=0.3, max_px=1.0)
    return wf.to_json()


def painting_with_twin(info: dict) -> dict:
    wf = Workflow(info)
    wf.note(0, (
        "Painting → cinemagraph. The painting is inverted with the SD1.x model and a realistic twin is sampled "
        "from it (same layout, real-looking water), because masks and flow are found far more reliably on a "
        "photo-like image. The loop animates the ORIGINAL painting at its own size.\n"
        "1. Load Image: your painting (sizes that are multiples of 8 avoid a crop).\n"
        "2. Twin Prompt: describe the painting; the twin prompt is derived from the words that move (waterfall, "
        "river, clouds, smoke ...).\n"
        "3. Region Mask and Text Flow: as in text_to_cinemagraph. Your painting already has a painted mask? "
        "Connect Load Image's MASK to Region Mask's mask."), title="Read me", width=400)
    painting = wf.add("LoadImage", 0, image="sample_painting.png")
    parts = _text_to_image(wf, "a waterfall falling into a lake at sunset, oil painting",
                           seed=0, painting=painting)
    _flow_and_loop(wf, parts, painting["IMAGE"], "painting_twin", flow_model=None)
    return wf.to_json()


LAYERS_NOTE = (
    "Motion layers: each Text Flow moves one region its own way and puts it on top of the stack it gets on its "
    "`layers` input (where regions overlap, the upper one moves the pixel). border: behind = the layer passes "
    "behind what is not itself at full speed, slip = it slides along its border, stick = it slows to a stop there, "
    "auto = chosen for the region. cycles: how often the layer repeats per loop (slow clouds 1, fast water more; "
    "auto = from its own motion). Flow Preview tints every layer in its own colour."
)
LAKE_ARROWS = ('{"version": 1, "arrows": [[0.47, 0.72, 0.47, 0.8], [0.3, 0.76, 0.24, 0.82], '
               '[0.65, 0.76, 0.71, 0.82], [0.15, 0.8, 0.1, 0.85]], "anchors": []}')
"""Ripples spreading from the waterfall's foot across the sample painting's lake (as in animate_painting.json)."""


def animate_painting_layers(info: dict) -> dict:
    wf = Workflow(info)
    wf.note(0, (
        "Animate a painting in three motion layers — no model weights needed. The sample painting's waterfall "
        "falls (three cycles per loop), its lake ripples outwards and passes behind its shores, and its sky drifts "
        "slowly (strength 0.6 px/frame, one cycle per loop), each with its own speed and period, in one seamless "
        "loop.\n"
        "The three regions come from sample_painting_layers.png (red = waterfall, green = lake, blue = sky), read "
        "by Load Image (as Mask) one channel each. For your own picture: paint each region in the mask editor of "
        "its own Load Image and connect that MASK instead.\n" + LAYERS_NOTE), title="Read me", width=400)
    painting = wf.add("LoadImage", 0, image="sample_painting.png")
    stack = None
    for column, (title, channel, values) in enumerate((
            ("waterfall", "red", dict(text="a waterfall falling", cycles="3")),
            ("lake", "green", dict(text="a lake rippling away from the waterfall", arrows=LAKE_ARROWS,
                                   border="behind")),
            ("sky", "blue", dict(text="clouds drifting to the right", strength=0.6, cycles="1"))), start=2):
        mask = wf.add("LoadImageMask", 1, title=f"{title.capitalize()} mask", image="sample_painting_layers.png",
                      channel=channel)
        layer = wf.add("T2C_TextFlow", column, title=f"Text Flow ({title})",
                       image=painting["IMAGE"], mask=mask["MASK"], **values,
                       **({"layers": stack} if stack is not None else {}))
        stack = layer["flow"]
    preview = wf.add("T2C_FlowPreview", 5, image=painting["IMAGE"], flow=stack, arrows=True)
    wf.add("PreviewImage", 5, title="Layers preview", images=preview["preview"])
    _loop(wf, painting["IMAGE"], stack, "painting_layers", mask=None)
    return wf.to_json()


def text_to_cinemagraph_layers(info: dict) -> dict:
    wf = Workflow(info)
    wf.note(0, (
        "Text → cinemagraph with two motion layers: the water and the sky move each their own way. Two Region "
        "Masks find them on the twin (words \"water, ...\" and \"sky, clouds\"); the sky's Text Flow makes the "
        "lower layer (slow, one cycle per loop), the water's Text Flow puts its layer on top.\n" + LAYERS_NOTE),
        title="Read me", width=400)
    parts = _text_to_image(wf, LAYERS_PROMPT, seed=23)
    sky_region = wf.add("T2C_RegionMask", 4, title="Region Mask (sky)", image=parts["twin"]["IMAGE"],
                        attention=parts["sampler"]["attention"], words="sky, clouds")
    wf.add("PreviewImage", 4, title="Sky mask preview", images=sky_region["preview"])
    sky = wf.add("T2C_TextFlow", 5, title="Text Flow (sky)", image=parts["twin"]["IMAGE"], mask=sky_region["mask"],
                 text="clouds drifting to the right", cycles="1")
    water, _ = _flow_and_loop(wf, parts, parts["artistic"]["IMAGE"], "text_layers", flow_model=None,
                              layers=sky["flow"])
    water.title = "Text Flow (water)"
    return wf.to_json()


WORKFLOWS = {"text_to_cinemagraph": text_to_cinemagraph,
             "text_to_cinemagraph_official_networks": text_to_cinemagraph_official_networks,
             "text_direction": text_direction, "text_direction_official_networks": text_direction_official_networks,
             "painting_with_twin": painting_with_twin, "animate_painting_layers": animate_painting_layers,
             "text_to_cinemagraph_layers": text_to_cinemagraph_layers}


def build_all(object_info: dict) -> dict[str, str]:
    """file name → JSON text for every generated workflow."""
    return {f"{name}.json": json.dumps(build(object_info), indent=1) + "\n" for name, build in WORKFLOWS.items()}


def server_object_info() -> dict:
    with tempfile.TemporaryDirectory() as workdir:
        server = ComfyServer(Path(workdir)).start()
        try:
            return server.get("/object_info")
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only compare with the files in workflows/")
    parser.add_argument("--object-info", type=Path, help="a saved /object_info JSON instead of starting ComfyUI")
    args = parser.parse_args(argv)
    info = json.loads(args.object_info.read_text()) if args.object_info else server_object_info()
    stale = []
    for name, text in build_all(info).items():
        path = WORKFLOW_DIR / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO_ROOT)}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run .venv/bin/python scripts/build_workflows.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
