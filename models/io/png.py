"""PNG text chunks for the APNG files ffmpeg writes: ``tEXt`` "prompt" / "workflow" as core SaveAnimatedPNG writes
them (keyword, NUL, the JSON), placed after ``IHDR`` where ComfyUI's frontend reads them."""

from __future__ import annotations

import shutil
import struct
import zlib
from collections.abc import Mapping
from typing import BinaryIO

SIGNATURE = b"\x89PNG\r\n\x1a\n"
IHDR_CHUNK_BYTES = 4 + 4 + 13 + 4


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def copy_with_text(source: BinaryIO, target: BinaryIO, texts: Mapping[str, str]) -> None:
    """Copy the PNG ``source`` to ``target`` with a ``tEXt`` chunk per item of ``texts`` (Latin-1) after IHDR."""
    head = source.read(len(SIGNATURE) + IHDR_CHUNK_BYTES)
    if not head.startswith(SIGNATURE) or head[len(SIGNATURE) + 4:len(SIGNATURE) + 8] != b"IHDR":
        raise RuntimeError("not a PNG file: no signature and IHDR")
    target.write(head)
    for key, value in texts.items():
        target.write(chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1")))
    shutil.copyfileobj(source, target, 2**20)
