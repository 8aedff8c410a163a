"""T2C_Animate: turn an image and an Eulerian flow into a seamless loop of frames."""

from __future__ import annotations

import logging

import torch
from comfy_api.latest import io

from ..models.checks import InputTypeError, check_finite_output, check_mask, check_nchw
from ..models.flow.layers import FlowStack, as_stack
from ..models.loop import pixel_animator, sharp_loop
from ..models.loop.common import leaving_warnings
from ..models.loop.engines import CLASSIC_SPLAT, ENGINES, LEGACY_ENGINE, SHARP_LOOP, engine_motion
from ..models.loop.euler import INTEGRATIONS
from . import memory
from .progress import FrameProgress
from .types import CATEGORY, Flow, VideoModel, image_to_bchw
from .validation import check_choices

log = logging.getLogger(__name__)


class Animate(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="T2C_Animate",
            display_name="Animate Cinemagraph",
            category=CATEGORY,
            description="Moves the image along the flow in a seamless loop: the last frame leads back to the first. "
                        "Without a video model a learning-free pixel engine runs (any size, CPU or GPU): the sharp "
                        "loop keeps the picture's detail; the classic splat is the official symmetric splatting. "
                        "Pixels that do not move stay bit-exact.",
            inputs=[
                io.Image.Input("image", tooltip="The picture to animate (the artistic image or a painting). "
                                                "Several images with one flow give one loop per image."),
                Flow.Input("flow", tooltip="Eulerian flow in px/frame (e.g. from Text Flow), or a stack of motion "
                                           "layers (chained Text Flow nodes): the sharp loop renders each layer with "
                                           "its own border and cycles, the other engines their combined flow. A flow "
                                           "of another size is resized and its vectors scaled with it."),
                io.Mask.Input("mask", optional=True, tooltip="Optional: only this region moves (resized to fit; it "
                                                             "multiplies every layer)."),
                io.Int.Input("frames", default=60, min=2, max=1000,
                             tooltip="Loop length. 60 frames = 2 s at 30 fps; use 120 for large, slow water."),
                io.Float.Input("speed", default=1.0, min=0.0, max=10.0, step=0.05,
                               tooltip="Multiplies the flow. Lower it if fast regions smear or show grey holes."),
                io.Float.Input("max_px_per_frame", default=0.0, min=0.0, max=64.0, step=0.1,
                               tooltip="Clamp each flow component to ±this before `speed`. 0 = the engine's "
                                       "default: no clamp for the pixel engine, 1.0 (official) with a video model."),
                io.Combo.Input("integration", options=list(INTEGRATIONS), default=INTEGRATIONS[0],
                               tooltip="Classic splat only. round: the official Euler integration (nearest flow "
                                       "lookup). bilinear: sub-pixel lookup, smoother paths for slow, curved flows."),
                io.Combo.Input("engine", options=list(ENGINES), default=SHARP_LOOP, optional=True,
                               tooltip=f"Pixel engine (ignored with a video model). {SHARP_LOOP}: texture keeps its "
                                       "detail, each spot switches phase briefly at its own time (no double "
                                       f"exposure). {CLASSIC_SPLAT}: the official symmetric splatting, a cross-fade "
                                       "of two phases; workflows saved before this input existed use it."),
                VideoModel.Input("video_model", optional=True,
                                 tooltip="Optional learned video generator (Video Model Loader). Without it "
                                         "the learning-free pixel engine runs."),
            ],
            outputs=[io.Image.Output(display_name="frames")],
        )

    @classmethod
    def execute(cls, image, flow, frames, speed, max_px_per_frame, integration="round", mask=None,
                video_model=None, engine=None) -> io.NodeOutput:
        engine = LEGACY_ENGINE if engine is None else engine
        check_choices(cls, integration=integration, engine=engine)
        picture = check_nchw(image_to_bchw(image, "Animate `image`"), "Animate `image`", channels=3)
        batch, _, height, width = picture.shape
        region = None if mask is None else check_mask(mask, "Animate `mask`")
        if video_model is not None and not callable(getattr(video_model, "render_loop", None)):
            raise InputTypeError(f"Animate `video_model` must come from Load Video Model, got "
                                 f"{type(video_model).__name__}: connect Load Video Model, or leave it unconnected")
        stack = as_stack(flow, "Animate `flow`")
        estimate = memory.animate_bytes(batch, frames, height, width, CLASSIC_SPLAT if video_model is not None
                                        else engine, memory.rendered_layers(stack, engine, video_model is not None))
        memory.preflight("Animate Cinemagraph", batch * frames, height, width, estimate,
                         "fewer frames, a smaller image or fewer images in the batch" + (
                             ", or fewer motion layers" if isinstance(flow, FlowStack) else ""))
        motion, note = engine_motion(stack, (height, width), batch, region, speed,
                                     max_px_per_frame, engine, video_network=video_model is not None)
        if note:
            log.info("T2C_Animate: %s", note)
        out = torch.empty((batch, frames, height, width, 3), dtype=torch.float32)
        progress = FrameProgress(batch * frames)
        cancel = progress.cancel_point  # between frames and within the long steps before the first one
        cancel()
        if video_model is not None:
            video_model.render_loop(picture, motion, frames, out=out, on_frame=progress, on_step=cancel)
        elif engine == SHARP_LOOP:
            plan = sharp_loop.make_plan(motion, frames, on_step=cancel, image=picture)
            for note in plan.notes if isinstance(plan, sharp_loop.StackPlan) else ():
                log.info("T2C_Animate: %s", note)
            for warning in plan.warnings:
                log.warning("T2C_Animate: %s", warning)
            sharp_loop.render_sharp_loop(picture, motion, frames, out=out, on_frame=progress, plan=plan,
                                         on_step=cancel)
        else:  # CLASSIC_SPLAT
            for warning in leaving_warnings(motion):
                log.warning("T2C_Animate: %s", warning)
            pixel_animator.render_loop(picture, motion, frames, out=out, on_frame=progress, integration=integration,
                                       on_step=cancel)
        check_finite_output(out, "Animate Cinemagraph", "the video model's weights are broken or overflow (try another "
                            "file, or full precision), or the flow × speed is too large" if video_model is not None
                            else "the flow × speed is too large: lower `speed` or set `max_px_per_frame`",
                            on_chunk=cancel)
        return io.NodeOutput(out.reshape(batch * frames, height, width, 3))
