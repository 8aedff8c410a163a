"""T2C_SaveCinemagraph: write the loop as MP4 / GIF / WebP / WebM / APNG / Motion Photo / Live Photo into ComfyUI's
output folder and preview it."""

from __future__ import annotations

import logging

import folder_paths
from comfy.cli_args import args
from comfy_api.latest import io, ui

from ..models.io import encoding, files
from . import memory
from .progress import FrameProgress
from .types import CATEGORY
from .validation import check_choices

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "cinemagraph/loop"
VIDEO_PREVIEW = ("mp4", "webm", encoding.LIVE_PHOTO)  # a live photo is previewed by its MOV
STILL_PREVIEW = (encoding.LIVE_PHOTO_HEVC,)  # browsers decode no HEVC: its .JPG is shown
ANIMATED_PREVIEW = ("webp", "apng")
"""The frontends (1.32 to 1.58) show an animated result as an <img> only for .webp/.png names and try a <video> for
any other (a GIF then shows nothing): GIF and the motion photo (its JPEG still) are previewed as plain images."""


class SaveCinemagraph(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="T2C_SaveCinemagraph",
            display_name="Save Cinemagraph",
            category=CATEGORY,
            description="Saves the frames as an endlessly looping MP4 (H.264), GIF, animated WebP, WebM (VP9), APNG, "
                        "a phone's motion photo (Google, one …MP.jpg) or live photo (Apple, a .JPG + .MOV pair) and "
                        "shows it. MP4, WebP, WebM, APNG and the live photo's MOV carry the workflow: drop one onto "
                        "the canvas to get the graph back (the frontend reads nothing from GIF or JPEG files).",
            is_output_node=True,
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            inputs=[
                io.Image.Input("frames", tooltip="The loop's frames, e.g. from Animate Cinemagraph."),
                io.String.Input("filename_prefix", default="cinemagraph/loop",
                                tooltip="File name prefix; may contain a subfolder of the output folder."),
                io.Float.Input("fps", default=30.0, min=1.0, max=120.0, step=1.0),
                io.Combo.Input("format", options=list(encoding.FORMATS), default="mp4",
                               tooltip="mp4: small, plays everywhere (players loop it seamlessly); "
                                       "gif: loops forever, 256 colours; webp: loops forever, full colour; "
                                       "webm: VP9 for browsers and web-based wallpaper programs; apng: lossless, "
                                       "loops forever; motion photo: Android's living photo (…MP.jpg); live "
                                       "photo: Apple's .JPG + .MOV pair (1.5–3 s; H.264, or HEVC as recent "
                                       "iPhones record, previewed by its still)."),
                io.Int.Input("quality", default=90, min=1, max=100,
                             tooltip="Encoder quality (mp4: mapped to CRF 35..12; webp: lossy quality)."),
                io.Boolean.Input("pingpong", default=False,
                                 tooltip="Play forward then backward. Not needed for our loops, which are "
                                         "already seamless; useful for clips that are not."),
                io.Int.Input("repeat", default=1, min=1, max=100, optional=True,
                             tooltip="Write the loop this many times into the video formats (mp4, webm, motion and "
                                     "live photo), for players that pause or blink at the end of a short file. "
                                     "gif, webp and apng loop by themselves."),
                io.Int.Input("max_side", default=0, min=0, max=16384, step=2, optional=True,
                             tooltip="Scale the long side down to this many pixels (e.g. 1920 for a 1080p "
                                     "wallpaper); 0 = as rendered. Video formats get even sides."),
            ],
        )

    @classmethod
    def execute(cls, frames, filename_prefix, fps, format, quality, pingpong=False, repeat=1,
                max_side=0) -> io.NodeOutput:
        check_choices(cls, format=format)
        out_dir = folder_paths.get_output_directory()
        # "" would write a hidden "._00001_.mp4"; every other check on the name comes before the encode too.
        filename_prefix = files.check_prefix(filename_prefix.strip() or DEFAULT_PREFIX, out_dir)
        memory.preflight_save(frames)
        # Converted to 8 bits (and scaled) chunk by chunk as they are encoded.
        loop = encoding.prepare_loop(frames, format, fps, pingpong, repeat, max_side,
                                     on_note=lambda note: log.warning("Save Cinemagraph: %s", note))
        memory.preflight_length(len(loop), len(frames), repeat, fps)
        encoding.check_frame_size(format, loop.height, loop.width)
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, out_dir, loop.width, loop.height)
        path = encoding.write_loop(loop, f"{folder}/{name}", format, fps, quality, counter=counter,
                                   on_frame=FrameProgress(len(loop) + 1), metadata=cls._metadata())
        saved = ui.SavedResult(path.name, subfolder, io.FolderType.output)
        if format in VIDEO_PREVIEW:
            preview = ui.PreviewVideo([saved])
        elif format in STILL_PREVIEW:
            still = path.with_suffix(encoding.FORMAT_TABLE[format].companion).name
            preview = ui.SavedImages([ui.SavedResult(still, subfolder, io.FolderType.output)])
        else:
            preview = ui.SavedImages([saved], is_animated=format in ANIMATED_PREVIEW)
        return io.NodeOutput(ui=preview)

    @classmethod
    def _metadata(cls) -> dict | None:
        """{"prompt", "workflow", …} as core SaveVideo / SaveAnimatedWEBP embed them; None with --disable-metadata."""
        if args.disable_metadata or cls.hidden is None:
            return None
        extra = cls.hidden.extra_pnginfo or {}
        if not isinstance(extra, dict):
            log.warning("Save Cinemagraph: extra_pnginfo is a %s, not a dict of metadata; left out of the file",
                        type(extra).__name__)
            extra = {}
        metadata = dict(extra)
        if cls.hidden.prompt is not None:
            metadata["prompt"] = cls.hidden.prompt
        return metadata or None
