"""Encode a stack of frames as a looping animation file: MP4 (H.264), GIF, animated WebP, WebM (VP9), APNG, and
the phone formats: Google's Motion Photo (``…MP.jpg``, :mod:`.motion_photo`) and Apple's Live Photo (a ``.JPG`` +
``.MOV`` pair, :mod:`.live_photo`). :data:`FORMAT_TABLE` says which are videos (``repeat`` applies) and which need
even sides.

Files are written to a temporary name in the target folder and renamed at the end, so a failed or
cancelled encode never leaves a half-written file under the final name. Frames are converted to 8 bits a chunk at
a time while they are encoded (:class:`LoopFrames`) and every encoder takes them one by one, so a save needs one
chunk and the encoder's own state beyond the frames it is given, never a copy of all of them, and ``on_frame``
(Cancel) runs after every frame.

``metadata`` ({"prompt": …, "workflow": …}, JSON-serialisable values) is embedded the way ComfyUI's own
savers do it and its frontends read it back when a file is dropped onto the canvas:

* mp4: container tags ``prompt`` / ``workflow`` holding JSON, in ``moov/udta/meta`` (``keys`` + ``ilst``,
  ffmpeg ``-movflags use_metadata_tags``) as core ``SaveVideo`` writes them; the frontend's ISOBMFF reader
  (``getFromIsobmffFile``) looks there;
* webp: EXIF ``0x0110`` = ``"prompt:<json>"``, ``0x010F``, ``0x010E`` … = ``"<key>:<json>"`` as core
  ``SaveAnimatedWEBP``; read by the frontend's ``getWebpMetadata``;
* webm: Matroska tags ``PROMPT`` / ``WORKFLOW`` (ffmpeg's ffmetadata input upper-cases them), read by the
  frontend's ``getFromWebmFile``;
* apng: ``tEXt`` chunks "prompt" / "workflow" as core ``SaveAnimatedPNG`` (:mod:`.png`);
* motion photo: in its MP4 (as mp4 above; the frontend reads nothing from a JPEG); live photo: in the MOV's
  ``moov/udta/meta`` as mp4 (dropping the ``.MOV`` restores the graph);
* gif: the ComfyUI frontend reads nothing from a GIF (checked: frontend 1.32.9 and the current source's
  ``getWorkflowDataFromFile``, which handles png, webp, avif, mp3, ogg, flac, webm, mp4/mov, svg, glb, latent
  and json only), so dropping one cannot restore the graph.
  The same JSON ({"prompt": …, "workflow": …}) goes into the GIF comment extension for other tools
  (:func:`read_gif_metadata`); save mp4 or webp to keep a graph that the canvas reloads.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import json
import logging
import math
import os
import struct
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..checks import InputShapeError, InputTypeError, InputValueError
from . import jpeg, live_photo, motion_photo, png
from .files import move_into_place

log = logging.getLogger(__name__)

GIF_MIN_DELAY = 2
"""Shortest GIF frame delay in 1/100 s that players honour: browsers show a delay of 0 or 1 as 10."""


CONVERT_CHUNK_BYTES = 32 * 2**20
"""LoopFrames converts this many bytes of float32 frames at a time (at least one frame): the conversion's share of
a save's memory, and a short enough stretch of work between two Cancel checks."""


PALETTE_SAMPLE_PIXELS = 2**18
"""A GIF's palette is made from at most this many pixels of 8 frames spread over the loop (every n-th row and
column): median cut over all their pixels is one uninterruptible call that took 2.5 s for 512² noise frames, and
the palette is as good (mean error 5.87 vs 5.83 levels on the sample painting)."""


class LoopFrames:
    """The frames of a loop as the encoders read them: uint8 [H, W, 3] in play order, converted a chunk at a time.

    ``frames`` [T, H, W, 3]: floats in 0..1 (torch or numpy; rounded, NaN and inf rejected rather than silently
    black) or uint8. With ``pingpong`` the loop plays forward then backward without repeating the turning frames,
    so the bounce itself loops seamlessly; the backward half is converted again rather than kept.
    :meth:`played` gives the same frames in another order (repeated) or scaled to another size.
    """

    def __init__(self, frames, pingpong: bool = False):
        shape = tuple(getattr(frames, "shape", ()))
        if len(shape) != 4 or shape[-1] != 3:
            raise InputShapeError(f"frames must be [T, H, W, 3] RGB, got shape {shape}")
        if shape[0] < 1:
            raise InputValueError("frames is empty: nothing to encode")
        self._torch = hasattr(frames, "detach")
        floating = frames.dtype.is_floating_point if self._torch else np.issubdtype(frames.dtype, np.floating)
        if not floating and (self._torch or frames.dtype != np.uint8):
            raise InputTypeError(f"frames must be floats in 0..1 or uint8, got {frames.dtype}")
        self._frames, self._floating = frames, floating
        count, self.height, self.width = shape[:3]
        self._source_size = (self.height, self.width)
        self.order = list(range(count)) + (list(range(count - 2, 0, -1)) if pingpong and count >= 3 else [])
        self._step = max(1, CONVERT_CHUNK_BYTES // (self.height * self.width * 3 * 4))
        self._start, self._chunk = -1, None

    def played(self, order: list[int], size: tuple[int, int]) -> LoopFrames:
        """These frames played in ``order`` (indices of the given frames) at ``size`` (height, width; scaled down
        with antialiasing as they are converted)."""
        loop = copy.copy(self)
        loop.order, (loop.height, loop.width) = list(order), size
        loop._start, loop._chunk = -1, None
        return loop

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, k: int) -> np.ndarray:
        """Frame ``k`` of the loop, in play order (it stays valid after later frames are read)."""
        index = self.order[k]
        if not self._floating and self._source_size == (self.height, self.width):
            return self._frames[index]
        start = index - index % self._step
        if start != self._start:
            self._chunk, self._start = None, -1  # let the previous chunk go before the next one is made
            self._chunk, self._start = self._convert(start, min(start + self._step, len(self._frames))), start
        return self._chunk[index - start]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[k] for k in range(len(self)))

    def _convert(self, start: int, stop: int) -> np.ndarray:
        chunk = self._frames[start:stop]
        if self._torch:
            chunk = chunk.detach().cpu().float().numpy()  # a view for the CPU float32 frames ComfyUI passes
        scaled = np.multiply(chunk, 255.0 if self._floating else 1.0, dtype=np.float32)
        if not np.isfinite(scaled).all():
            raise InputValueError("frames contain NaN or inf; check the node that produced them")
        if self._source_size != (self.height, self.width):
            scaled = _resize(scaled, (self.height, self.width))
        np.rint(scaled, out=scaled)
        np.clip(scaled, 0, 255, out=scaled)
        return scaled.astype(np.uint8)


def _resize(chunk: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[N, H, W, 3] float32 scaled to ``size`` (antialiased bilinear, the filter that keeps a downscale sharp
    without aliasing)."""
    import torch

    images = torch.from_numpy(np.ascontiguousarray(chunk)).permute(0, 3, 1, 2)
    scaled = torch.nn.functional.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)
    return scaled.permute(0, 2, 3, 1).contiguous().numpy()


def fitted_size(height: int, width: int, max_side: int, even: bool) -> tuple[int, int]:
    """(height, width) with the long side at most ``max_side`` (0: as given), aspect kept; even sides when
    ``even`` and the frames are scaled (4:2:0 video; unscaled odd frames are padded by the encoder instead)."""
    if not max_side or max(height, width) <= max_side:
        return height, width
    step, scale = (2 if even else 1), max_side / max(height, width)
    long_side = max(step, max_side // step * step)
    short_side = max(step, round(min(height, width) * scale / step) * step)
    return (long_side, short_side) if height >= width else (short_side, long_side)


def prepare_loop(frames, fmt: str, fps: float, pingpong: bool = False, repeat: int = 1, max_side: int = 0,
                 on_note: Callable[[str], None] | None = None) -> LoopFrames:
    """The frames as :func:`write_loop` writes them in ``fmt``: ping-pong, played ``repeat`` times (video formats;
    the image formats loop by themselves), scaled to ``max_side``, a live photo repeated to 1.5 s and cut at 3 s.
    ``on_note`` hears what was changed beyond what was asked (padding, cutting)."""
    spec = format_spec(fmt)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise InputValueError(f"repeat must be a whole number >= 1, got {repeat!r}")
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 0:
        raise InputValueError(f"max_side must be a whole number >= 0 (0 = as rendered), got {max_side!r}")
    note = on_note or _log_note
    loop = frames if isinstance(frames, LoopFrames) else LoopFrames(frames, pingpong)
    size = fitted_size(loop.height, loop.width, max_side, spec.even)
    if spec.even and (size[0] % 2 or size[1] % 2):
        note(f"{fmt} needs even sides (4:2:0 video): {size[1]}×{size[0]} is padded to "
             f"{size[1] + size[1] % 2}×{size[0] + size[0] % 2} by repeating the last column/row")
    order = loop.order * (repeat if spec.video else 1)
    if fmt in LIVE_PHOTOS:
        plays, count = live_photo.play_length(len(order), fps)
        if count < plays * len(order):
            note(f"a live photo lasts at most {live_photo.MAX_SECONDS:g} s: {len(order)} frames at {fps:g} fps "
                 f"are cut to the first {count}")
        order = (order * plays)[:count]
    return loop.played(order, size)


def _log_note(text: str) -> None:
    log.warning("Save: %s", text)


def write_loop(frames, path: str | os.PathLike, fmt: str, fps: float, quality: int = 90,
               on_frame: Callable[[int], None] | None = None, metadata: Mapping[str, object] | None = None,
               counter: int | None = None) -> Path:
    """Write ``frames`` (a :class:`LoopFrames` from :func:`prepare_loop`, or [T, H, W, 3] floats in 0..1 or uint8,
    played forward) as an endlessly looping ``fmt`` file and return its path: ``path`` itself, or with ``counter``,
    the first free name ``{path}_{counter:05}_{ext}`` from that counter on (:func:`models.io.files.move_into_place`:
    no file is ever replaced). A live photo's still goes beside it, under the same name with ``.JPG``.

    ``on_frame(i)`` is called after frame i is handed to the encoder and, with i = the frame count, while the
    encoder finishes and once more before the file is moved into place; an exception it raises (ComfyUI's Cancel)
    stops the encode and leaves no file.
    ``metadata``: key → JSON-serialisable value (ComfyUI: ``prompt`` and the ``extra_pnginfo`` keys, normally
    ``workflow``), embedded as described in the module docstring; None or {} embeds nothing. What cannot be
    embedded is left out with a log line (:func:`embeddable_metadata`): the frames are saved in any case.
    """
    spec = format_spec(fmt)
    if not fps > 0:
        raise InputValueError(f"fps must be positive, got {fps}")
    loop = frames if isinstance(frames, LoopFrames) else prepare_loop(frames, fmt, fps)
    check_frame_size(fmt, loop.height, loop.width)
    texts = embeddable_metadata(metadata, fmt)
    on_frame = on_frame or _nothing
    path = Path(path)
    # Not mkstemp: its 0600 mode would make results private; 0666 here is narrowed by the umask like any file.
    tmp_name = str(path.parent / f".partial-{uuid.uuid4().hex}{Path(spec.extension).suffix}")
    os.close(os.open(tmp_name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    pairs = [(tmp_name, path)]
    if spec.companion:
        pairs.append((str(Path(tmp_name).with_suffix(spec.companion)), path.with_suffix(spec.companion)))
    try:
        globals()[spec.writer](loop, tmp_name, fps, quality, on_frame, metadata=texts or None)
        on_frame(len(loop))
        if counter is not None:
            return move_into_place(tmp_name, path.parent, path.name, spec.extension, counter,
                                   companions={tmp: spec.companion for tmp, _ in pairs[1:]})
        for tmp, final in pairs:
            os.replace(tmp, final)
    finally:
        for tmp, _ in pairs:
            if os.path.exists(tmp):
                os.remove(tmp)
    return path


def check_frame_size(fmt: str, height: int, width: int) -> None:
    """Refuse frames larger than ``fmt`` holds before any is encoded (the encoders fail only at the end)."""
    if max(height, width) > MAX_SIDE[fmt]:
        raise InputValueError(f"frames of {width}×{height} px are too large for {fmt} (at most {MAX_SIDE[fmt]} px a "
                              f"side): choose another format ({', '.join(f'{k} ≤ {v}' for k, v in MAX_SIDE.items())}) "
                              "or scale the frames down first")


def embeddable_metadata(metadata: Mapping[str, object] | None, fmt: str) -> dict[str, str]:
    """key → JSON text of the metadata that ``fmt`` can carry. A key that is not valid UTF-8 (a lone surrogate) is
    written escaped, a value that is not JSON is left out, and WebP keys past its EXIF tags are left out, each
    with a log line: metadata never costs the frames."""
    texts: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if value is None:
            continue
        key = str(key)
        written = key.encode("utf-8", "backslashreplace").decode("utf-8")
        if written != key:  # only a key with a lone surrogate changes
            log.warning("Save: the metadata key %r is not valid UTF-8; written as %r", key, written)
            key = written
        try:
            texts[key] = _json(value)  # ensure_ascii: lone surrogates inside values are escaped
        except (TypeError, ValueError, RecursionError) as error:
            log.warning("Save: metadata %r left out, it is not JSON (%s)", key, error)
    others = [key for key in texts if key != "prompt"]
    room = len(exif_key_tags()) if fmt == "webp" else len(others)
    if len(others) > room:
        log.warning("Save: a webp holds %d metadata keys besides prompt; %d left out: %s", room, len(others) - room,
                    ", ".join(others[room:][:5]))
        for key in others[room:]:
            del texts[key]
    return texts


@functools.cache
def exif_key_tags() -> tuple[int, ...]:
    """The EXIF tags that carry WebP metadata keys other than ``prompt``: 0x010F, 0x010E, … down to 1, as core
    SaveAnimatedWEBP numbers them, less the tags Pillow writes as numbers (0x010A FillOrder, …), whose text would
    not be written."""
    from PIL import TiffTags

    return tuple(tag for tag in range(0x010F, 0, -1) if TiffTags.lookup(tag).type in (None, TiffTags.ASCII))


def _nothing(_index: int) -> None:
    pass


def _handed_over(loop: LoopFrames, on_frame: Callable[[int], None]) -> Iterator[np.ndarray]:
    """The loop's frames; ``on_frame(i)`` runs when the encoder comes back for the frame after frame i."""
    for index, frame in enumerate(loop):
        yield frame
        on_frame(index)


def _json(value: object) -> str:
    return json.dumps(value)


def _json_object(texts: Mapping[str, str]) -> str:
    """The JSON object of key → JSON text (what json.dumps of the decoded values would give)."""
    return "{" + ", ".join(f"{_json(key)}: {text}" for key, text in texts.items()) + "}"


def _write_mp4(loop: LoopFrames, path: str, fps: float, quality: int, on_frame: Callable[[int], None],
               metadata: Mapping | None = None) -> None:
    """H.264 with the moov first (+faststart) so readers that only look at the file's head find the tags."""
    _ffmpeg_video(loop, path, fps, on_frame, _x264(quality), "mp4", metadata, movflags="+faststart")


def _x264(quality: int) -> list[str]:
    crf = str(int(round(np.interp(quality, [0, 100], [35, 12]))))
    return ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", crf, "-preset", "medium"]


def _x265(quality: int) -> list[str]:
    """HEVC tagged ``hvc1`` (the tag Apple's players require); CRF 38..15 gives about x264's quality."""
    crf = str(int(round(np.interp(quality, [0, 100], [38, 15]))))
    return ["-c:v", "libx265", "-pix_fmt", "yuv420p", "-crf", crf, "-preset", "medium", "-tag:v", "hvc1",
            "-x265-params", "log-level=error"]


def _write_webm(loop: LoopFrames, path: str, fps: float, quality: int, on_frame: Callable[[int], None],
                metadata: Mapping | None = None) -> None:
    """VP9 in 4:2:0 (what browsers and the web-based wallpaper programs play); constant quality (CRF 50..15)."""
    crf = str(int(round(np.interp(quality, [0, 100], [50, 15]))))
    codec = ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-crf", crf, "-b:v", "0", "-row-mt", "1",
             "-deadline", "good", "-cpu-used", "4"]
    _ffmpeg_video(loop, path, fps, on_frame, codec, "webm", metadata)


def _write_apng(loop: LoopFrames, path: str, fps: float, quality: int, on_frame: Callable[[int], None],
                metadata: Mapping | None = None) -> None:
    """Lossless, loops forever (``-plays 0``); ffmpeg stores each frame as the rectangle that changed. zlib level 3:
    half the time of the default 6 for 4 % more bytes (768×512×60 sample loop). The tags are added by copying
    ffmpeg's file once with text chunks after IHDR (ffmpeg cannot write them)."""
    codec = ["-c:v", "apng", "-pred", "paeth", "-compression_level", "3", "-plays", "0"]
    if not metadata:
        _ffmpeg_video(loop, path, fps, on_frame, codec, "apng", None)
        return
    plain = f"{path}.plain.png"
    try:
        _ffmpeg_video(loop, plain, fps, on_frame, codec, "apng", None)
        with open(plain, "rb") as source, open(path, "wb") as target:
            png.copy_with_text(source, target, metadata)
    finally:
        if os.path.exists(plain):
            os.remove(plain)


def _write_motion_photo(loop: LoopFrames, path: str, fps: float, quality: int, on_frame: Callable[[int], None],
                        metadata: Mapping | None = None) -> None:
    """The H.264 MP4 (with the tags) is written first, then the still with its XMP and the MP4 copied after it."""
    video = f"{path}.video.mp4"
    try:
        _write_mp4(loop, video, fps, quality, on_frame, metadata)
        still = jpeg.encode_still(loop[0], quality)
        with open(video, "rb") as source, open(path, "wb") as target:
            motion_photo.write(target, still, source, os.path.getsize(video),
                               round(still_frame(loop) * 1e6 / fps))
    finally:
        if os.path.exists(video):
            os.remove(video)


def _live_photo_writer(codec: Callable[[int], list[str]]) -> Callable[..., None]:
    """A live photo writer whose MOV is encoded with ``codec`` (:func:`_x264` or :func:`_x265`)."""
    def write(loop: LoopFrames, path: str, fps: float, quality: int, on_frame: Callable[[int], None],
              metadata: Mapping | None = None) -> None:
        """ffmpeg writes the MOV; :mod:`.live_photo` adds the content identifier, the still-image-time track and
        the tags; the still goes to the ``.JPG`` beside it."""
        content_id = live_photo.new_content_id()
        _ffmpeg_video(loop, path, fps, on_frame, codec(quality), "mov", None)
        live_photo.tag_movie(path, content_id, still_frame(loop), fps, metadata or {})
        still = live_photo.tag_still(jpeg.encode_still(loop[0], quality), content_id)
        Path(path).with_suffix(live_photo.STILL_EXTENSION).write_bytes(still)

    return write


def still_frame(loop: LoopFrames) -> int:
    """Where the still (the loop's first frame) is in the video: its showing nearest the middle."""
    showings = [k for k, index in enumerate(loop.order) if index == loop.order[0]]
    return min(showings, key=lambda k: abs(2 * k - (len(loop) - 1)))


def _ffmpeg_video(loop: LoopFrames, path: str, fps: float, on_frame: Callable[[int], None], codec: list[str],
                  container: str, metadata: Mapping | None, movflags: str | None = None) -> None:
    """ffmpeg (imageio-ffmpeg's binary) reads raw frames from a pipe and writes ``container``; the tags (key → JSON
    text) go in the same pass (ffmetadata input; ``movflags`` + use_metadata_tags puts them in moov/udta/meta).
    The tags travel in a file, not on the command line, whose arguments are limited to 128 KiB each (a large
    workflow is bigger). On Cancel ffmpeg is killed rather than left to flush its look-ahead."""
    import imageio_ffmpeg

    # yuv420p (the pixel format every player decodes) needs even sides: replicate the last row/column.
    even = "yuv420p" in codec
    pad = ((0, loop.height % 2 * even), (0, loop.width % 2 * even), (0, 0))
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostats", "-v", "error", "-y", "-f", "rawvideo",
               "-pix_fmt", "rgb24", "-s", f"{loop.width + pad[1][1]}x{loop.height + pad[0][1]}",
               "-r", str(Fraction(fps).limit_denominator()), "-i", "-"]
    meta_path = f"{path}.{uuid.uuid4().hex}.ffmeta"
    try:
        if metadata and not _write_ffmetadata(meta_path, metadata):
            metadata = None
        if metadata:
            command += ["-f", "ffmetadata", "-i", meta_path, "-map", "0", "-map_metadata", "1"]
        command += ["-an", *codec]
        if movflags is not None and (movflags or metadata):
            command += ["-movflags", movflags + ("+use_metadata_tags" if metadata else "")]
        command += ["-f", container, path]
        with tempfile.TemporaryFile() as errors:  # a file, not a pipe: ffmpeg never blocks on what it reports
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
            try:
                with contextlib.suppress(BrokenPipeError):  # ffmpeg stopped early: its message is in `errors`
                    for frame in _handed_over(loop, on_frame):
                        if pad[0][1] or pad[1][1]:
                            frame = np.pad(frame, pad, mode="edge")
                        process.stdin.write(np.ascontiguousarray(frame))
                    process.stdin.close()
                while True:  # the look-ahead's last frames, then the +faststart rewrite
                    try:
                        process.wait(timeout=0.05)
                        break
                    except subprocess.TimeoutExpired:
                        on_frame(len(loop))
            except BaseException:
                process.kill()
                with contextlib.suppress(OSError):
                    process.stdin.close()
                process.wait()
                raise
            if process.returncode != 0:
                errors.seek(0)
                message = errors.read().decode("utf-8", "replace").strip()
                raise RuntimeError(f"ffmpeg could not write the {container}: "
                                   f"{message or f'exit code {process.returncode}'}")
    finally:
        if os.path.exists(meta_path):
            os.remove(meta_path)


def _write_ffmetadata(meta_path: str, texts: Mapping[str, str]) -> bool:
    """The tags as ffmpeg's metadata file; False (logged) when it cannot be written (a full disk): the video is
    then saved without them."""
    lines = [";FFMETADATA1"] + [f"{_ffmetadata_escape(key)}={_ffmetadata_escape(text)}" for key, text in texts.items()]
    try:
        Path(meta_path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as error:
        log.warning("Save: the mp4 is saved without its workflow, whose tags could not be written (%s)", error)
        return False
    return True


def _ffmetadata_escape(text: str) -> str:
    for char in ("\\", "=", ";", "#", "\n"):
        text = text.replace(char, "\\" + char)
    return text


def _write_gif(loop: LoopFrames, path: str, fps: float, quality: int, on_frame: Callable[[int], None],
               metadata: Mapping | None = None) -> None:
    """Written frame by frame: Pillow compresses each frame (a one-frame GIF whose image block is copied out),
    the file's blocks are written here, so no list of every frame is kept and Cancel is checked after each."""
    from PIL import Image

    # One palette for the whole loop and no dithering: a per-frame palette (Pillow's default) makes the
    # static part of a cinemagraph shimmer, which is exactly what must not move.
    picks = np.linspace(0, len(loop) - 1, num=min(len(loop), 8)).round().astype(int)
    stride = max(1, math.ceil(math.sqrt(len(picks) * loop.height * loop.width / PALETTE_SAMPLE_PIXELS)))
    mosaic = Image.fromarray(np.concatenate([loop[k][::stride, ::stride].copy() for k in picks], axis=0))
    palette = mosaic.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    delays = gif_delays(len(loop), fps)
    previous = None
    with open(path, "wb") as file:
        for index, frame in enumerate(_handed_over(loop, on_frame)):
            if index not in delays:
                continue
            indexed = Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE)
            pixels = np.asarray(indexed)
            box = (0, 0, loop.width, loop.height) if previous is None else _changed_box(previous, pixels)
            screen, block = _gif_blocks(indexed.crop(box) if previous is not None else indexed)
            if previous is None:
                file.write(b"GIF89a" + screen + _gif_loop_forever())
                if metadata:
                    file.write(_gif_comment(_json_object(metadata).encode("utf-8")))
            file.write(_gif_frame_control(delays[index]) + block[:1] + struct.pack("<HH", *box[:2]) + block[5:])
            previous = pixels
        file.write(b";")


def gif_delays(count: int, fps: float) -> dict[int, int]:
    """frame → delay in 1/100 s of the frames a GIF of ``count`` frames at ``fps`` shows. GIF counts time in 1/100 s
    and players show a delay under :data:`GIF_MIN_DELAY` as 1/10 s, so above 50 fps evenly spread frames are left
    out (logged); the delays are rounded cumulatively, so the loop lasts count/fps seconds to 1/100 s at any fps."""
    duration = 100.0 * count / fps
    shown = max(1, min(count, math.floor(duration / GIF_MIN_DELAY)))
    ends = [0] + [round(duration * (k + 1) / shown) for k in range(shown)]
    frames = [k * count // shown for k in range(shown)]
    if shown < count:
        log.warning("Save: a GIF frame lasts at least %d ms, so of the %d frames at %g fps %d are written at %.3g fps "
                    "(the loop keeps its %.2f s); choose mp4 or webp to keep every frame", GIF_MIN_DELAY * 10, count,
                    fps, shown, fps * shown / count, count / fps)
    return {frame: max(GIF_MIN_DELAY, ends[k + 1] - ends[k]) for k, frame in enumerate(frames)}


def _changed_box(previous: np.ndarray, current: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) around the pixels that changed; one pixel when none did (the frame still counts).
    The frame is drawn over the previous one (disposal 1), as Pillow's own multi-frame GIFs do."""
    changed = previous != current
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    if rows.size == 0:
        return 0, 0, 1, 1
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _gif_blocks(image) -> tuple[bytes, bytes]:
    """(logical screen descriptor + global colour table, image descriptor + compressed data) of ``image`` as
    Pillow writes it as a one-frame GIF."""
    buffer = io.BytesIO()
    image.save(buffer, format="GIF", interlace=False, optimize=False)
    data = buffer.getvalue()
    flags = data[10]
    position = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    screen = data[6:position]
    while data[position] == 0x21:  # an extension (Pillow may add one): its label, then sub-blocks up to a 0
        position += 2
        while data[position]:
            position += data[position] + 1
        position += 1
    return screen, data[position:-1]  # up to the trailer


def _gif_loop_forever() -> bytes:
    return b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", 0) + b"\x00"


def _gif_comment(text: bytes) -> bytes:
    blocks = b"".join(bytes([len(text[i:i + 255])]) + text[i:i + 255] for i in range(0, len(text), 255))
    return b"!\xfe" + blocks + b"\x00"


def _gif_frame_control(delay: int) -> bytes:
    """Graphic control extension: disposal 1 (keep the frame under the next one), ``delay`` in 1/100 s."""
    return b"!\xf9\x04" + bytes([1 << 2]) + struct.pack("<H", delay) + b"\x00\x00"


def webp_exif(texts: Mapping[str, str]) -> bytes:
    """EXIF as core SaveAnimatedWEBP writes it: 0x0110 "prompt:<json>", then 0x010F, 0x010E, … "<key>:<json>"
    (``texts``: key → JSON text, no more keys besides prompt than :func:`exif_key_tags`)."""
    from PIL import Image

    exif = Image.Exif()
    tags = iter(exif_key_tags())
    for key, text in texts.items():
        if key == "prompt":
            exif[0x0110] = f"prompt:{text}"
        else:
            exif[next(tags)] = f"{key}:{text}"
    return exif.tobytes()


class _FramesOnDemand:
    """A multi-frame image for Pillow's ``append_images`` (which takes multi-frame images): each frame is made when
    Pillow seeks to it, so no list of every frame is built and ``on_frame`` (Cancel) runs between frames."""

    def __init__(self, count: int, images: Iterator):
        self.n_frames, self._images = count, images
        self._index, self._image = -1, None

    def seek(self, index: int) -> None:
        if not 0 <= index < self.n_frames:
            raise EOFError(f"no frame {index}")
        if index == self._index + 1:
            self._image, self._index = next(self._images), index
        elif index != self._index:
            raise RuntimeError("the frames are made in order")

    def tell(self) -> int:
        return self._index

    def __getattr__(self, name: str):  # mode, size, getim, tobytes …: those of the current frame
        return getattr(self._image, name)


def _write_webp(loop: LoopFrames, path: str, fps: float, quality: int, on_frame: Callable[[int], None],
                metadata: Mapping | None = None) -> None:
    from PIL import Image

    extra = {"exif": webp_exif(metadata)} if metadata else {}
    images = (Image.fromarray(frame) for frame in _handed_over(loop, on_frame))
    first = next(images)
    first.save(path, format="WEBP", save_all=True, append_images=[_FramesOnDemand(len(loop) - 1, images)],
               duration=int(round(1000.0 / fps)), loop=0, quality=quality, method=4, lossless=False, **extra)
    next(images, None)  # Pillow never asks past the last frame: report it too


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


@dataclass(frozen=True)
class Format:
    """How a format is written: the file name's ending after the counter, its writer, the largest side it holds,
    whether it is a video that players play once (``repeat`` writes the loop N times; the image formats loop by
    themselves), whether it is 4:2:0 (even sides) and the suffix of a second file written beside it."""

    extension: str
    writer: str
    """The name of this module's writer function, looked up when writing (so a test can stand one in)."""
    max_side: int
    video: bool = False
    even: bool = False
    companion: str | None = None


_write_live_photo, _write_live_photo_hevc = _live_photo_writer(_x264), _live_photo_writer(_x265)
LIVE_PHOTO, LIVE_PHOTO_HEVC = "live photo", "live photo hevc"
FORMAT_TABLE = {
    "mp4": Format(".mp4", "_write_mp4", 16384, video=True, even=True),
    "gif": Format(".gif", "_write_gif", 65535),
    "webp": Format(".webp", "_write_webp", 16383),
    "webm": Format(".webm", "_write_webm", 16384, video=True, even=True),
    "apng": Format(".png", "_write_apng", 65535),
    "motion photo": Format(motion_photo.NAME_SUFFIX, "_write_motion_photo", 16384, video=True, even=True),
    LIVE_PHOTO: Format(live_photo.MOVIE_EXTENSION, "_write_live_photo", 16384, video=True, even=True,
                       companion=live_photo.STILL_EXTENSION),
    LIVE_PHOTO_HEVC: Format(live_photo.MOVIE_EXTENSION, "_write_live_photo_hevc", 8192, video=True, even=True,
                            companion=live_photo.STILL_EXTENSION),
}
"""Largest sides: GIF 16-bit sizes; WebP 14 bits; H.264 through libx264 and VP9 through libvpx 16384; PNG and
JPEG 65535; HEVC through libx265 kept at 8192 (HEVC levels end at 8192 wide)."""
FORMATS = tuple(FORMAT_TABLE)
LIVE_PHOTOS = (LIVE_PHOTO, LIVE_PHOTO_HEVC)
EXTENSIONS = {name: spec.extension for name, spec in FORMAT_TABLE.items()}
MAX_SIDE = {name: spec.max_side for name, spec in FORMAT_TABLE.items()}


def format_spec(fmt: str) -> Format:
    if fmt not in FORMAT_TABLE:
        raise InputValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return FORMAT_TABLE[fmt]
