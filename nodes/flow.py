"""T2C_TextFlow (flow from image + mask + text, learning-free or with an official network) and T2C_FlowPreview."""

from __future__ import annotations

import logging

import torch
from comfy_api.latest import io, ui

from ..models import networks
from ..models.checks import InputShapeError, check_finite_output, check_mask, check_nchw
from ..models.flow import engine as flow_engine
from ..models.flow import hints
from ..models.flow import viz as flow_viz
from ..models.flow.borders import shape_border
from ..models.flow.layers import BORDERS, CYCLE_CHOICES, LEGACY_BORDER, FlowLayer, FlowStack, as_stack
from ..models.flow.ops import clamp_note, fit_mask
from ..models.networks.transformer import CONTEXT_DIM, CONTEXT_TOKENS
from ..models.prompt.conditioning import prompt_embeddings
from ..models.prompt.direction import AUTO, DIRECTION_CHOICES, chosen_angle
from .progress import FrameProgress
from .types import CATEGORY, Flow, FlowModel, bchw_to_image, image_to_bchw
from .validation import check_choices

log = logging.getLogger(__name__)

EDITOR_IMAGE_KEY = "t2c_editor_image"
"""UI output key under which T2C_TextFlow sends its input picture to the motion editor (web/js/motion_editor.js).
Not ``images``: the frontend would also draw that as a second preview under the editor."""
EDITOR_REGIONS_KEY = "t2c_editor_regions"
"""UI output key of the RGBA overlay the motion editor draws over that picture: this node's region tinted, the other
layers of its stack outlined (models/flow/viz.py layer_overlay)."""


def sd1_context(conditioning) -> torch.Tensor:
    """The text flow network's [B, 77, 768] context: the first 77 tokens of a one-prompt SD1.x conditioning."""
    context = prompt_embeddings(conditioning, "Text Flow `conditioning`", CONTEXT_DIM, "the text flow network")
    return context[:, :CONTEXT_TOKENS].float()  # a long prompt: the official model saw only 77 tokens


def _temp_png(image: torch.Tensor, prefix: str) -> list:
    return ui.ImageSaveHelper.save_images(image, filename_prefix=prefix, folder_type=io.FolderType.temp, cls=None,
                                          compress_level=1)


def editor_image_ui(image: torch.Tensor, stack: FlowStack, mine: int | None) -> dict:
    """The first input picture and the overlay of the stack's regions (layer ``mine`` tinted, the others outlined)
    as temp PNGs, for the motion editor to draw arrows on after a run."""
    others = set(range(len(stack.layers))) - {mine}
    overlay = flow_viz.layer_overlay(stack.owner()[:1], {mine} - {None}, others)
    return {EDITOR_IMAGE_KEY: _temp_png(image[:1], "t2c_flow_input"),
            EDITOR_REGIONS_KEY: _temp_png(bchw_to_image(overlay), "t2c_flow_regions")}


class TextFlow(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="T2C_TextFlow",
            display_name="Text Flow",
            category=CATEGORY,
            description="Predicts how the masked region moves (an Eulerian flow in px/frame). Direction comes "
                        "from drawn arrows, the direction combo, or the text (\"flowing to the left\", \"in "
                        "upwards direction\", \"at 30 degrees\"); otherwise from what the text names "
                        "(waterfall → down, clouds → sideways, smoke → up). Learning-free unless a flow "
                        "model is connected. Chain Text Flows through `layers` to give several regions each "
                        "their own motion, border and period (a stack of motion layers).",
            inputs=[
                io.Image.Input("image", tooltip="The realistic twin, or the painting itself."),
                io.Mask.Input("mask", tooltip="Where things move (e.g. from Region Mask, or painted in the mask "
                                              "editor of Load Image)."),
                io.String.Input("text", multiline=True, default="",
                                tooltip="Prompt or region words; direction phrases and class words are read."),
                io.Combo.Input("direction", options=list(DIRECTION_CHOICES), default=AUTO),
                io.Float.Input("angle", default=270.0, min=-3600.0, max=3600.0, step=1.0,
                               tooltip="Degrees counter-clockwise from → (90 = up, 270 = down); used with "
                                       "'custom angle'. Wrapped into [0, 360)."),
                io.Float.Input("strength", default=0.0, min=0.0, max=32.0, step=0.05,
                               tooltip="Speed at the region's core in px/frame. 0 = auto: 1.5 px/frame at 512², "
                                       "scaled with the image size, which looks natural at 30 fps."),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1,
                             tooltip="Seeds the gentle variation that keeps water from moving like a sheet."),
                io.String.Input("arrows", multiline=True, default="",
                                tooltip='Motion arrows and still anchors as JSON (the motion editor writes it): '
                                        '{"arrows": [[x0, y0, x1, y1], ...], "anchors": [[x, y], ...]} in 0..1 '
                                        'image coordinates; arrow length = distance covered in 60 frames.'),
                io.Float.Input("hint_px_per_frame", default=hints.OFFICIAL_HINT_PX_PER_FRAME, min=0.0,
                               max=128.0, step=0.5,
                               tooltip="Direction-hint network only: hint magnitude. 64 is the official value "
                                       "(only its direction counts); 2-8 stays in the network's training range."),
                io.Conditioning.Input("conditioning", optional=True,
                                      tooltip="SD1.x CLIPTextEncode of the prompt, for the text flow network."),
                FlowModel.Input("flow_model", optional=True,
                                tooltip="Optional official flow network (Load Flow Model). Without it the "
                                        "learning-free engine runs."),
                Flow.Input("layers", optional=True,
                           tooltip="Optional: the flow of another Text Flow. This node's region goes on top of its "
                                   "layers (where regions overlap, the upper layer moves the pixel): chain Text "
                                   "Flows to give water and sky each their own motion."),
                io.Combo.Input("border", options=list(BORDERS), default=BORDERS[0], optional=True,
                               tooltip="How this layer meets what is not itself. behind: it passes behind at full "
                                       "speed (nothing piles up or shears); slip: motion along the border keeps its "
                                       "speed; stick: speed fades to zero at the border (workflows saved before "
                                       "this input existed); auto: chosen for the region (info says which)."),
                io.Combo.Input("cycles", options=list(CYCLE_CHOICES), default=CYCLE_CHOICES[0], optional=True,
                               tooltip="How many times this layer repeats per loop: slow clouds 1, fast water 2-4. "
                                       "auto: from the layer's own distortion."),
            ],
            outputs=[Flow.Output(display_name="flow"), io.Image.Output(display_name="preview"),
                     io.String.Output(display_name="info")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(cls, arrows=None) -> bool | str:
        # Names only `arrows`: ComfyUI keeps its own min/max checks for every other input (nodes/validation.py).
        if isinstance(arrows, str):  # a linked input arrives as None here and is checked at run time
            try:
                hints.parse_arrows(arrows)
            except ValueError as error:
                return f"arrows: {error}"
        return True

    @classmethod
    def execute(cls, image, mask, text, direction, angle, strength, seed, arrows, hint_px_per_frame=64.0,
                conditioning=None, flow_model=None, layers=None, border=None, cycles="auto") -> io.NodeOutput:
        legacy = border is None  # an API prompt made before `border` existed keeps the stick fade it always had
        border = LEGACY_BORDER if legacy else border
        check_choices(cls, direction=direction, border=border, cycles=cycles)
        cancel = FrameProgress.cancel_point  # a 2048² image takes seconds: Cancel is checked between steps
        picture, region = image_to_bchw(image, "Text Flow `image`"), check_mask(mask, "Text Flow `mask`")
        check_nchw(picture, "Text Flow `image`", channels=3)
        below = None if layers is None else as_stack(layers, "Text Flow `layers`")
        motion_hints = hints.parse_arrows(arrows)
        angle_deg = chosen_angle(direction, angle)
        if flow_model is None:
            result = flow_engine.flow_from_text(picture, region, text, direction_angle=angle_deg,
                                                hints=motion_hints, strength=strength or None, seed=seed,
                                                border_fade=False, on_step=cancel)
            flow, notes = result.flow, [f"learning-free engine; motion from {result.source}", *result.warnings]
        else:
            flow, notes = cls._network_flow(flow_model, picture, region, text, angle_deg, motion_hints,
                                            hint_px_per_frame, conditioning, cancel)
            notes[0] += clamp_note(flow)
        cancel()
        check_finite_output(flow, "Text Flow", "lower `strength`" if flow_model is None else
                            f"the flow model {flow_model.filename} has broken weights or overflows in half precision "
                            "(try another file, or full precision)")
        for note in notes[1:]:
            log.warning("T2C_TextFlow: %s", note)
        region = fit_mask(region, picture.shape[-2:])
        if not (legacy and flow_model is not None):  # a network's flow with no border asked for stays as it was
            shaped = shape_border(flow, region, border, on_step=cancel)
            flow, border = shaped.flow, shaped.border
            notes.append(shaped.note or f"border {border}")
        stack, mine, note = cls._stacked(below, FlowLayer(flow=flow, mask=region, border=border,
                                                          cycles=None if cycles == "auto" else int(cycles),
                                                          label=cls._label()))
        preview = flow_viz.flow_preview(picture, flow, motion_hints, on_step=cancel)
        cancel()
        info = "\n".join([*notes, *([note] if note else []), stack.describe()])
        return io.NodeOutput(stack, bchw_to_image(preview), info, ui=editor_image_ui(image, stack, mine))

    @classmethod
    def _label(cls) -> str:
        """"Text Flow #12": names this node in the messages of the nodes that read its layer."""
        unique_id = None if cls.hidden is None else cls.hidden.unique_id
        return "Text Flow" if unique_id is None else f"Text Flow #{unique_id}"

    @staticmethod
    def _stacked(below: FlowStack | None, layer: FlowLayer) -> tuple[FlowStack, int | None, str | None]:
        """(the stack with ``layer`` on top, its index, a note): a layer with an empty mask is left out of a stack
        that has layers already (a lone one stays: its flow is zero, nothing moves)."""
        if below is None:
            return FlowStack((layer,)), 0, None
        if not layer.region().any():
            log.warning("T2C_TextFlow: %s has an empty mask and was left out of the stack", layer.label)
            return below, None, f"{layer.label}: the mask is empty, so this layer was left out of the stack"
        stack = below.push(layer)
        return stack, len(stack.layers) - 1, None

    @staticmethod
    def _network_flow(flow_model, picture, region, text, angle_deg, motion_hints, hint_px, conditioning, cancel):
        region = fit_mask(region, picture.shape[-2:])
        if flow_model.kind == "text_flow":
            flow = networks.predict_text_flow(flow_model.network(), picture, region, sd1_context(conditioning),
                                              on_step=cancel)
            return flow, [f"text flow network ({flow_model.filename})"]
        hint = hints.network_hint(region, motion_hints, angle_deg, text, hint_px, on_step=cancel)
        notes = [f"direction-hint network ({flow_model.filename}); {hint.source}", *hint.warnings]
        return networks.predict_hint_flow(flow_model.network(), picture, region, hint.hint, on_step=cancel), notes


class FlowPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="T2C_FlowPreview",
            display_name="Flow Preview",
            category=CATEGORY,
            description="Shows a flow with the standard optical-flow colour wheel (hue = direction, "
                        "saturation = speed), optionally with arrows. The layers of a Text Flow chain are tinted "
                        "and outlined each in its own colour (bottom first: blue, orange, green, pink, ...).",
            inputs=[
                Flow.Input("flow"),
                io.Image.Input("image", optional=True, tooltip="Optional: draw the arrows over this image."),
                io.Boolean.Input("arrows", default=True),
                io.Float.Input("max_px_per_frame", default=0.0, min=0.0, max=64.0, step=0.1,
                               tooltip="Speed shown fully saturated; 0 = the flow's own maximum."),
            ],
            outputs=[io.Image.Output(display_name="preview")],
        )

    @classmethod
    def execute(cls, flow, arrows, max_px_per_frame, image=None) -> io.NodeOutput:
        cancel = FrameProgress.cancel_point  # an 8192² preview takes seconds: Cancel is checked between chunks
        stack = as_stack(flow, "Flow Preview `flow`")
        combined, scale = stack.combined(), max_px_per_frame or None
        if image is None:
            background = flow_viz.flow_to_color(combined, scale, on_step=cancel)
        else:
            background = check_nchw(image_to_bchw(image, "Flow Preview `image`"), "Flow Preview `image`", channels=3)
            if len(background) not in (1, len(combined)) and len(combined) != 1:
                raise InputShapeError(f"Flow Preview: {len(background)} images in `image` for {len(combined)} flows: "
                                      "give one image, or one per flow")
        if background.shape[-2:] != combined.shape[-2:]:
            background = torch.nn.functional.interpolate(background, size=combined.shape[-2:], mode="bilinear")
        cancel()
        if isinstance(flow, FlowStack):  # each layer's region in its own colour; a plain tensor previews as before
            every = set(range(len(stack.layers)))
            background = flow_viz.composite(background, flow_viz.layer_overlay(stack.owner(), every, every))
        if arrows:
            background = flow_viz.draw_flow_arrows(background, combined, max_magnitude=scale, on_step=cancel)
        return io.NodeOutput(bchw_to_image(background))
