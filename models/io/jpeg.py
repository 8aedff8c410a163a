"""The JPEG still of the phone formats, and the APP1 segments (EXIF with a MakerNote, XMP) they add to it.

Pillow encodes the picture; the segments are spliced in right after SOI and the JFIF APP0 segment, where readers
look for them first (EXIF must be the first APP1 segment, XMP follows it)."""

from __future__ import annotations

import io
import struct

import numpy as np

SOI, APP0, APP1 = b"\xff\xd8", 0xE0, 0xE1
MAX_SEGMENT_PAYLOAD = 0xFFFF - 2
"""A segment's 2-byte length counts itself: at most 65533 bytes of payload."""

EXIF_HEADER = b"Exif\x00\x00"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
EXIF_IFD_POINTER, EXIF_VERSION, MAKER_NOTE = 0x8769, 0x9000, 0x927C
LONG, UNDEFINED = 4, 7


def encode_still(frame: np.ndarray, quality: int) -> bytes:
    """``frame`` uint8 [H, W, 3] as a baseline JPEG (4:2:0, as phone cameras write it); quality capped at 95, above
    which Pillow's files grow with no visible gain."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=int(min(max(quality, 1), 95)), subsampling=2)
    return buffer.getvalue()


def segment(marker: int, payload: bytes) -> bytes:
    if len(payload) > MAX_SEGMENT_PAYLOAD:
        raise RuntimeError(f"a JPEG segment holds at most {MAX_SEGMENT_PAYLOAD} bytes, got {len(payload)}")
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def insert_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """``jpeg`` with ``segments`` placed after SOI and a leading APP0 (JFIF) segment."""
    if not jpeg.startswith(SOI):
        raise RuntimeError("not a JPEG: no SOI marker")
    position = len(SOI)
    if jpeg[position:position + 2] == bytes([0xFF, APP0]):
        position += 2 + struct.unpack(">H", jpeg[position + 2:position + 4])[0]
    return jpeg[:position] + b"".join(segments) + jpeg[position:]


def xmp_segment(packet: str) -> bytes:
    return segment(APP1, XMP_HEADER + packet.encode("utf-8"))


def exif_segment_with_maker_note(maker_note: bytes) -> bytes:
    """An EXIF APP1 segment (big-endian TIFF) whose Exif IFD holds ExifVersion 0232 and ``maker_note``."""
    def entry(tag: int, kind: int, count: int, value: bytes) -> bytes:
        return struct.pack(">HHI", tag, kind, count) + value.ljust(4, b"\x00")

    ifd0 = 8
    exif_ifd = ifd0 + 2 + 12 + 4
    note_offset = exif_ifd + 2 + 2 * 12 + 4
    tiff = (b"MM\x00\x2a" + struct.pack(">I", ifd0)
            + struct.pack(">H", 1) + entry(EXIF_IFD_POINTER, LONG, 1, struct.pack(">I", exif_ifd)) + bytes(4)
            + struct.pack(">H", 2) + entry(EXIF_VERSION, UNDEFINED, 4, b"0232")
            + entry(MAKER_NOTE, UNDEFINED, len(maker_note), struct.pack(">I", note_offset)) + bytes(4)
            + maker_note)
    return segment(APP1, EXIF_HEADER + tiff)
