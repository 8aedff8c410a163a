"""Apple's Live Photo: a ``NAME.JPG`` + ``NAME.MOV`` pair sharing one content identifier (an upper-case UUID).

* the JPEG's Apple MakerNote (``Apple iOS\\0``, version 1, big-endian, offsets from the MakerNote's start) holds it
  as tag 0x0011 (ExifTool: ``ContentIdentifier``, ``MediaGroupUUID`` since 12.19);
* the MOV holds it as ``com.apple.quicktime.content.identifier`` in its movie-level ``mdta`` metadata, and has a
  timed metadata track with one ``com.apple.quicktime.still-image-time`` sample (int8 -1) at the still's time,
  describing the video track.

What the pairing does not give: iOS decides by more than these (vitality scores, a ``live-photo-info`` track, HEVC)
whether a Live Photo may be a moving lock-screen wallpaper; a generated pair is often shown with "Motion not
available" there. Photos pairs the two files on import.
"""

from __future__ import annotations

import math
import os
import struct
import uuid
from collections.abc import Mapping

from . import jpeg, quicktime

MOVIE_EXTENSION, STILL_EXTENSION = ".MOV", ".JPG"
CONTENT_ID_KEY = "com.apple.quicktime.content.identifier"
STILL_TIME_KEY = "com.apple.quicktime.still-image-time"
MAKER_NOTE_HEADER = b"Apple iOS\x00" + struct.pack(">H", 1) + b"MM"
CONTENT_ID_TAG, ASCII = 0x0011, 2
MIN_SECONDS, MAX_SECONDS = 1.5, 3.0
"""Apple's Live Photos last about 3 s; generated ones of about 1.5 s are reported to be accepted most often."""
STILL_SAMPLE = quicktime.metadata_sample(struct.pack(">b", -1))


def new_content_id() -> str:
    return str(uuid.uuid4()).upper()


def maker_note(content_id: str) -> bytes:
    """An Apple MakerNote with one entry, tag 0x0011 = ``content_id`` (ASCII, NUL-terminated)."""
    text = content_id.encode("ascii") + b"\x00"
    ifd = len(MAKER_NOTE_HEADER)
    value_offset = ifd + 2 + 12 + 4
    return (MAKER_NOTE_HEADER + struct.pack(">H", 1)
            + struct.pack(">HHII", CONTENT_ID_TAG, ASCII, len(text), value_offset) + bytes(4) + text)


def tag_still(still: bytes, content_id: str) -> bytes:
    """The JPEG ``still`` with an EXIF segment carrying the Apple MakerNote of ``content_id``."""
    return jpeg.insert_segments(still, jpeg.exif_segment_with_maker_note(maker_note(content_id)))


def play_length(frames: int, fps: float) -> tuple[int, int]:
    """(times to play the loop, frames to write): the loop repeated to last at least 1.5 s, cut at 3 s."""
    plays = max(1, math.ceil(MIN_SECONDS * fps / frames))
    return plays, min(plays * frames, math.floor(MAX_SECONDS * fps))


def tag_movie(path: str | os.PathLike, content_id: str, still_frame: int, fps: float,
              tags: Mapping[str, str]) -> None:
    """Add the content identifier, the still-image-time track (one frame long, at frame ``still_frame``) and
    ``tags`` (in ``udta``, where ComfyUI's frontend reads "prompt" / "workflow") to ffmpeg's MOV at ``path``."""
    keys = [CONTENT_ID_KEY, *tags]

    def atoms(movie: quicktime.Movie, sample_offset: int) -> list[bytes]:
        frame_ticks = round(movie.video_timescale / fps)
        track = quicktime.metadata_track(movie, STILL_TIME_KEY, quicktime.SIGNED_INT8, sample_offset,
                                         len(STILL_SAMPLE), still_frame * frame_ticks, frame_ticks)
        return [track, quicktime.mdta_meta(keys, {CONTENT_ID_KEY: content_id}, version_field=False)]

    user_data = [quicktime.mdta_meta(keys, tags, version_field=True)] if tags else []
    quicktime.extend_movie(path, STILL_SAMPLE, 1, atoms, user_data)
