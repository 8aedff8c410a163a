"""T2C_TextFlow (flow from image + mask + text, learning-free or with an official network) and T2C_FlowPreview."""

from __future__ import annotations

import logging

import torch
from comfy_api.latest import io, ui

from ..models import networks
from ..models.checks import InputShapeError, check_finite_output, check_nchw
from ..models.flow import engine as flow_engine
from ..models.flow import hints
from ..models.flow import viz as flow_viz
from ..models.flow.ops import clamp_note
from ..models.networks.transformer import CONTEXT_DIM, CONTEXT_TOKENS
from ..models.prompt.direction import AUTO, DIRECTION_CHOICES, chosen_angle
from .progress import FrameProgress
from .types import CATEGORY, Flow, FlowModel, bchw_to_image, image_to_bchw, mask_to_b1hw
from .validation import check_choices

log = logging.getLogger(__name__)

SD1_CONTEXT = (CONTEXT_TOKENS, CONTEXT_DIM)
EDITOR_IMAGE_KEY = "t2c_editor_image"
"""UI output key under which T2C_TextFlow sends its input picture to the motion editor (web/js/motion_editor.js).
Not ``images``: the frontend would also draw that as a second preview under the editor."""


def sd1_context(conditioning) -> torch.Tensor:
    """The [B, 77, 768] token embeddings of an SD1.x CLIPTextEncode conditioning, or a clear error."""
    if not conditioning:
        raise ValueError("the text flow network needs `conditioning`: connect CLIPTextEncode (SD1.x CLIP) "
                         "with your prompt")
    context = conditioning[0][0]
    if context.ndim != 3 or context.shape[-1] != SD1_CONTEXT[1] or context.shape[1] % SD1_CONTEXT[0]:
        raise ValueError(f"the text flow network needs SD1.x CLIP tokens [*, 77, 768]; this conditioning is "
                         f"{list(context.shape)} — encode the prompt with an SD1.x checkpoint's CLIP")
    return context[:, : SD1_CONTEXT[0]].float()  # a long prompt: the official model saw only 77 tokens


def editor_image_ui(image: torch.Tensor) -> dict:
    """The first input picture as a temp PNG, for the motion editor to draw arrows on after a run."""
    saved = ui.ImageSaveHelper.save_images(image[:1], filename_prefix="t2c_flow_input", folder_type=io.FolderType.temp,
                                           cls=None, compress_level=1)
    return {EDITOR_IMAGE_KEY: saved}


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
                        "model is connected.",
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
            ],
            outputs=[Flow.Output(display_name="flow"), io.Image.Output(display_name="preview"),
                     io.String.Output(display_name="info")],
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
                conditioning=None, flow_model=None) -> io.NodeOutput:
        check_choices(cls, direction=direction)
        cancel = FrameProgress.cancel_point  # a 2048² image takes seconds: Cancel is checked between steps
        picture, region = image_to_bchw(image, "Text Flow `image`"), mask_to_b1hw(mask, "Text Flow `mask`")
        check_nchw(picture, "Text Flow `image`", channels=3)
        motion_hints = hints.parse_arrows(arrows)
        angle_deg = chosen_angle(direction, angle)
        if flow_model is None:
            result = flow_engine.flow_from_text(picture, region, text, direction_angle=angle_deg,
                                                hints=motion_hints, strength=strength or None, seed=seed,
                                                on_step=cancel)
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
        preview = flow_viz.flow_preview(picture, flow, motion_hints, on_step=cancel)
        cancel()
        return io.NodeOutput(flow, bchw_to_image(preview), "\n".join(notes), ui=editor_image_ui(image))

    @staticmethod
    def _network_flow(flow_model, picture, region, text, angle_deg, motion_hints, hint_px, conditioning, cancel):
        if region.shape[-2:] != picture.shape[-2:]:
            region = torch.nn.functional.interpolate(region, size=picture.shape[-2:], mode="bilinear")
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
                        "saturation = speed), optionally with arrows.",
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
        check_nchw(flow, "Flow Preview `flow`", channels=2)
        scale = max_px_per_frame or None
        if image is None:
            background = flow_viz.flow_to_color(flow, scale, on_step=cancel)
        else:
            background = check_nchw(image_to_bchw(image, "Flow Preview `image`"), "Flow Preview `image`", channels=3)
            if len(background) not in (1, len(flow)) and len(flow) != 1:
                raise InputShapeError(f"Flow Preview: {len(background)} images in `image` for {len(flow)} flows: "
                                      "give one image, or one per flow")
        if background.shape[-2:] != flow.shape[-2:]:
            background = torch.nn.functional.interpolate(background, size=flow.shape[-2:], mode="bilinear")
        cancel()
        if arrows:
            background = flow_viz.draw_flow_arrows(background, flow, max_magnitude=scale, on_step=cancel)
        return io.NodeOutput(bchw_to_image(background))
