"""Encode a stack of frames as a looping animation file: MP4 (H.264), GIF or animated WebP.

Files are written to a temporary name in the target folder and renamed at the end, so a failed or
cancelled encode never leaves a half-written file under the final name.

``metadata`` ({"prompt": …, "workflow": …}, JSON-serialisable values) is embedded the way ComfyUI's own
savers do it and its frontends read it back when a file is dropped onto the canvas:

* mp4: container tags ``prompt`` / ``workflow`` holding JSON, in ``moov/udta/meta`` (``keys`` + ``ilst``,
  ffmpeg ``-movflags use_metadata_tags``) as core ``SaveVideo`` writes them; the frontend's ISOBMFF reader
  (``getFromIsobmffFile``) looks there;
* webp: EXIF ``0x0110`` = ``"prompt:<json>"``, ``0x010F``, ``0x010E`` … = ``"<key>:<json>"`` as core
  ``SaveAnimatedWEBP``; read by the frontend's ``getWebpMetadata``;
* gif: the ComfyUI frontend reads nothing from a GIF (checked: frontend 1.32.9 and the current source's
  ``getWorkflowDataFromFile``, which handles png, webp, avif, mp3, ogg, flac, webm, mp4/mov, svg, glb, latent
  and json only), so dropping one cannot restore the graph.
  The same JSON ({"prompt": …, "workflow": …}) goes into the GIF comment extension for other tools
  (:func:`read_gif_metadata`); save mp4 or webp to keep a graph that the canvas reloads.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

FORMATS = ("mp4", "gif", "webp")
EXTENSIONS = {"mp4": ".mp4", "gif": ".gif", "webp": ".webp"}


CONVERT_CHUNK_BYTES = 64 * 2**20
"""frames_to_uint8 converts this many bytes of float32 at a time: its peak is the uint8 result plus one chunk,
not two float32 copies of every frame."""


def frames_to_uint8(frames, on_chunk: Callable[[], None] | None = None) -> np.ndarray:
    """[T,H,W,3] floats in 0..1 (torch or numpy) → uint8, rounded; NaN is rejected, not silently black."""
    array = frames.detach().cpu().numpy() if hasattr(frames, "detach") else np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"frames must be [T, H, W, 3] RGB, got shape {tuple(array.shape)}")
    if array.shape[0] < 1:
        raise ValueError("frames is empty: nothing to encode")
    out = np.empty(array.shape, dtype=np.uint8)
    step = max(1, CONVERT_CHUNK_BYTES // max(1, array[:1].size * 4))
    for start in range(0, len(array), step):
        chunk = array[start : start + step].astype(np.float32)
        if not np.isfinite(chunk).all():
            raise ValueError("frames contain NaN or inf; check the node that produced them")
        chunk *= 255.0
        np.rint(chunk, out=chunk)
        np.clip(chunk, 0, 255, out=chunk)
        out[start : start + step] = chunk
        if on_chunk is not None:
            on_chunk()  # ComfyUI's Cancel check
    return out


def pingpong(frames: np.ndarray) -> np.ndarray:
    """Forward then backward without repeating the end frames, so the bounce itself loops seamlessly."""
    if len(frames) < 3:
        return frames
    return np.concatenate([frames, frames[-2:0:-1]], axis=0)


def write_loop(frames: np.ndarray, path: str | os.PathLike, fmt: str, fps: float, quality: int = 90,
               on_frame: Callable[[int], None] | None = None, metadata: Mapping[str, object] | None = None) -> Path:
    """Write uint8 frames [T,H,W,3] to ``path`` as an endlessly looping ``fmt`` file.

    ``on_frame(i)`` is called after each frame is handed to the encoder (mp4, gif) and once more before the file
    is moved into place; an exception it raises (ComfyUI's Cancel) stops the encode and leaves no file.
    ``metadata``: key → JSON-serialisable value (ComfyUI: ``prompt`` and the ``extra_pnginfo`` keys, normally
    ``workflow``), embedded as described in the module docstring; None or {} embeds nothing.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if frames.dtype != np.uint8:
        raise TypeError("write_loop takes uint8 frames; convert with frames_to_uint8 first")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise ValueError(f"frames must be [T, H, W, 3] RGB with T ≥ 1, got shape {tuple(frames.shape)}")
    metadata = {str(key): value for key, value in (metadata or {}).items() if value is not None}
    path = Path(path)
    # Not mkstemp: its 0600 mode would make results private; 0666 here is narrowed by the umask like any file.
    tmp_name = str(path.parent / f".partial-{uuid.uuid4().hex}{EXTENSIONS[fmt]}")
    os.close(os.open(tmp_name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        writer = {"mp4": _write_mp4, "gif": _write_gif, "webp": _write_webp}[fmt]
        writer(frames, tmp_name, fps, quality, on_frame or _nothing, metadata=metadata or None)
        (on_frame or _nothing)(len(frames))
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
    return path


def _nothing(_index: int) -> None:
    pass


def _json(value: object) -> str:
    return json.dumps(value)


def _write_mp4(frames: np.ndarray, path: str, fps: float, quality: int, on_frame: Callable[[int], None],
               metadata: Mapping | None = None) -> None:
    import imageio_ffmpeg

    # yuv420p (the pixel format every player decodes) needs even sides: replicate the last row/column.
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    height, width = frames.shape[1:3]
    crf = str(int(round(np.interp(quality, [0, 100], [35, 12]))))
    writer = imageio_ffmpeg.write_frames(
        path, (width, height), fps=fps, codec="libx264", pix_fmt_out="yuv420p", quality=None,
        macro_block_size=1, output_params=["-crf", crf, "-preset", "medium", "-movflags", "+faststart"],
    )
    writer.send(None)
    try:
        for index, frame in enumerate(frames):
            writer.send(np.ascontiguousarray(frame))
            on_frame(index)
    finally:
        writer.close()
    if metadata:
        _tag_mp4(path, metadata)


def _ffmetadata_escape(text: str) -> str:
    for char in ("\\", "=", ";", "#", "\n"):
        text = text.replace(char, "\\" + char)
    return text


def _tag_mp4(path: str, metadata: Mapping) -> None:
    """Remux (stream copy) with the tags in moov/udta/meta, moov first (+faststart) so readers that only look
    at the file's head find them. The tags travel in an ffmetadata file, not on the command line, whose
    arguments are limited to 128 KiB each (a large workflow is bigger)."""
    import imageio_ffmpeg

    stem = f"{path}.{uuid.uuid4().hex}"
    meta_path, tagged_path = f"{stem}.ffmeta", f"{stem}.mp4"
    lines = [";FFMETADATA1"] + [f"{_ffmetadata_escape(key)}={_ffmetadata_escape(_json(value))}"
                                for key, value in metadata.items()]
    try:
        Path(meta_path).write_text("\n".join(lines) + "\n", encoding="utf-8")
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", path,
                   "-f", "ffmetadata", "-i", meta_path, "-map", "0", "-map_metadata", "1", "-c", "copy",
                   "-movflags", "+faststart+use_metadata_tags", "-f", "mp4", tagged_path]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"ffmpeg could not add the workflow metadata to the mp4: {result.stderr.strip()}")
        os.replace(tagged_path, path)
    finally:
        for leftover in (meta_path, tagged_path):
            if os.path.exists(leftover):
                os.remove(leftover)


def _write_gif(frames: np.ndarray, path: str, fps: float, quality: int, on_frame: Callable[[int], None],
               metadata: Mapping | None = None) -> None:
    from PIL import Image

    # One palette for the whole loop and no dithering: a per-frame palette (Pillow's default) makes the
    # static part of a cinemagraph shimmer, which is exactly what must not move.
    sample = frames[np.linspace(0, len(frames) - 1, num=min(len(frames), 8)).round().astype(int)]
    mosaic = Image.fromarray(np.concatenate(list(sample), axis=0))
    palette = mosaic.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    images = []
    for index, frame in enumerate(frames):
        images.append(Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE))
        on_frame(index)
    # GIF stores delays in 1/100 s, so e.g. 30 fps plays at 33.3 fps (30 ms) — a format limit.
    extra = {"comment": _json(dict(metadata)).encode("utf-8")} if metadata else {}
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=int(round(1000.0 / fps)), loop=0, disposal=1, optimize=False, **extra)


def webp_exif(metadata: Mapping) -> bytes:
    """EXIF as core SaveAnimatedWEBP writes it: 0x0110 "prompt:<json>", then 0x010F, 0x010E, … "<key>:<json>"."""
    from PIL import Image

    exif = Image.Exif()
    tag = 0x010F
    for key, value in metadata.items():
        if key == "prompt":
            exif[0x0110] = f"prompt:{_json(value)}"
        else:
            exif[tag] = f"{key}:{_json(value)}"
            tag -= 1
    return exif.tobytes()


def _write_webp(frames: np.ndarray, path: str, fps: float, quality: int, on_frame: Callable[[int], None],
                metadata: Mapping | None = None) -> None:
    import imageio.v3 as iio

    extra = {"exif": webp_exif(metadata)} if metadata else {}
    iio.imwrite(path, frames, extension=".webp", plugin="pillow", duration=int(round(1000.0 / fps)),
                loop=0, quality=quality, method=4, lossless=False, **extra)


def read_gif_metadata(path: str | os.PathLike) -> dict:
    """The {"prompt": …, "workflow": …} a GIF written here carries in its comment ({} when none)."""
    from PIL import Image

    with Image.open(path) as image:
        comment = image.info.get("comment", b"")
    try:
        data = json.loads(comment.decode("utf-8")) if comment else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
