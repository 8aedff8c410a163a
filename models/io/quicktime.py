"""QuickTime (MOV) atoms: reading ffmpeg's movie and adding what it cannot write (a timed metadata track, movie-level
``mdta`` metadata).

ffmpeg writes ``ftyp``, ``wide``, ``mdat``, ``moov`` (no ``+faststart``). :func:`extend_movie` appends a sample to
the end of ``mdat`` and writes a new ``moov`` after it, in place: the video's chunk offsets stay valid and the video
data is never copied. Layouts follow Apple's QuickTime File Format reference (metadata ``keys``/``ilst``, the
``mebx`` boxed-metadata sample entry, ``tref``/``cdsc``). The movie is always ffmpeg's own, so a layout other than
expected is a :class:`RuntimeError` (an encoder's invariant broken), never a user's mistake.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

UTF8, SIGNED_INT8 = 1, 65
"""Well-known data types: of an ``ilst`` ``data`` atom's value, of a ``mebx`` key's ``dtyp``."""
RATE_ONE = 0x00010000
IDENTITY_MATRIX = struct.pack(">9I", RATE_ONE, 0, 0, 0, RATE_ONE, 0, 0, 0, 0x40000000)


def box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def children(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of each box in ``data[start:end]``."""
    end = len(data) if end is None else end
    position = start
    while position + 8 <= end:
        found = _box_at(data[position:position + 16], position, end)
        yield found
        position = found[3]


def _box_at(head: bytes, position: int, end: int) -> tuple[bytes, int, int, int]:
    """(type, start, payload start, end) of the box whose first 16 (or fewer) bytes are ``head``."""
    size, kind = struct.unpack(">I4s", head[:8])
    header = 8
    if size == 1:
        size, header = struct.unpack(">Q", head[8:16])[0], 16
    elif size == 0:
        size = end - position
    if size < header or position + size > end:
        raise RuntimeError(f"a broken {kind!r} box at byte {position}")
    return kind, position, position + header, position + size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int]:
    for found, _, payload, stop in children(data, start, end):
        if found == kind:
            return payload, stop
    raise RuntimeError(f"no {kind!r} box")


@dataclass(frozen=True)
class Movie:
    """What a new track must agree with in ffmpeg's movie."""

    timescale: int
    next_track_id: int
    video_track_id: int
    video_timescale: int

    def movie_time(self, media_time: int) -> int:
        """A time of the video's media timescale in the movie's."""
        return round(media_time * self.timescale / self.video_timescale)


def _after_times(data: bytes, payload: int) -> int:
    """The 32-bit field after a full box's creation and modification times (32 or 64 bits each by its version):
    the timescale of ``mvhd`` and ``mdhd``, the track ID of ``tkhd``."""
    offset = 20 if data[payload] else 12
    return struct.unpack(">I", data[payload + offset:payload + offset + 4])[0]


def read_movie(moov: bytes) -> Movie:
    """The movie's timescale, next track ID and its (first) video track of ``moov`` (the whole box)."""
    mvhd, mvhd_end = _child(moov, 8, len(moov), b"mvhd")
    timescale = _after_times(moov, mvhd)
    next_track = struct.unpack(">I", moov[mvhd_end - 4:mvhd_end])[0]
    for kind, _, payload, stop in children(moov, 8):
        if kind != b"trak":
            continue
        mdia = _child(moov, payload, stop, b"mdia")
        handler, _ = _child(moov, *mdia, b"hdlr")
        if moov[handler + 8:handler + 12] == b"vide":
            track_id = _after_times(moov, _child(moov, payload, stop, b"tkhd")[0])
            media_scale = _after_times(moov, _child(moov, *mdia, b"mdhd")[0])
            return Movie(timescale, next_track, track_id, media_scale)
    raise RuntimeError("the movie has no video track")


def mdta_meta(keys: list[str], values: Mapping[str, str], version_field: bool) -> bytes:
    """A ``meta`` atom of ``mdta`` ``keys`` and the UTF-8 ``values`` of some of them. QuickTime's movie-level
    ``meta`` has no version field, the ``udta`` one that ComfyUI's frontend reads has (as ffmpeg writes it). Two
    ``meta`` atoms of one file share one key table: ffmpeg's reader keeps the first table it meets for both."""
    handler = full_box(b"hdlr", 0, 0, bytes(4), b"mdta", bytes(12), b"\x00")
    table = full_box(b"keys", 0, 0, struct.pack(">I", len(keys)), *(box(b"mdta", key.encode("utf-8")) for key in keys))
    items = box(b"ilst", *(box(struct.pack(">I", keys.index(key) + 1),
                               box(b"data", struct.pack(">II", UTF8, 0), value.encode("utf-8")))
                           for key, value in values.items()))
    return box(b"meta", bytes(4) if version_field else b"", handler, table, items)


def metadata_sample(value: bytes) -> bytes:
    """A boxed metadata sample holding one value of local key 1 (the only key of :func:`metadata_track`)."""
    return box(struct.pack(">I", 1), value)


def metadata_track(movie: Movie, key: str, data_type: int, sample_offset: int, sample_size: int, start: int,
                   length: int) -> bytes:
    """A timed metadata track (handler ``meta``, a ``mebx`` entry of one ``mdta`` key) describing the video track
    (``tref/cdsc``): one sample of ``sample_size`` bytes at file offset ``sample_offset``, shown from ``start`` for
    ``length`` (the video's media timescale; an edit list places it)."""
    track_id = movie.next_track_id
    start_movie, length_movie = movie.movie_time(start), movie.movie_time(length)
    header = full_box(b"tkhd", 0, 1, bytes(8), struct.pack(">II", track_id, 0),
                      struct.pack(">I", start_movie + length_movie), bytes(8), bytes(8), IDENTITY_MATRIX, bytes(8))
    edits = ([(start_movie, -1)] if start_movie else []) + [(length_movie, 0)]
    edit_list = box(b"edts", full_box(b"elst", 0, 0, struct.pack(">I", len(edits)),
                                      *(struct.pack(">IiI", duration, time, RATE_ONE) for duration, time in edits)))
    reference = box(b"tref", box(b"cdsc", struct.pack(">I", movie.video_track_id)))
    key_table = box(b"keys", box(struct.pack(">I", 1), box(b"keyd", b"mdta", key.encode("utf-8")),
                                 box(b"dtyp", struct.pack(">II", 0, data_type))))
    entry = box(b"mebx", bytes(6), struct.pack(">H", 1), key_table)
    table = box(b"stbl", full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry),
                full_box(b"stts", 0, 0, struct.pack(">III", 1, 1, length)),
                full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, 1, 1)),
                full_box(b"stsz", 0, 0, struct.pack(">II", sample_size, 1)),
                full_box(b"stco", 0, 0, struct.pack(">II", 1, sample_offset)))
    media_info = box(b"minf", full_box(b"nmhd", 0, 0),
                     box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"alis", 0, 1))), table)
    media = box(b"mdia", full_box(b"mdhd", 0, 0, bytes(8), struct.pack(">II", movie.video_timescale, length),
                                  bytes(4)),
                full_box(b"hdlr", 0, 0, b"mhlr", b"meta", bytes(12), _pascal("Core Media Metadata")), media_info)
    return box(b"trak", header, edit_list, reference, media)


def _pascal(text: str) -> bytes:
    data = text.encode("utf-8")
    return bytes([len(data)]) + data


def extend_movie(path: str | os.PathLike, sample: bytes, tracks: int, atoms: Callable[[Movie, int], list[bytes]],
                 user_data: list[bytes]) -> None:
    """Append ``sample`` to the end of ffmpeg's ``mdat`` and rewrite ``moov`` after it with ``atoms(movie, sample's
    file offset)`` added (``tracks`` of them new tracks: the next free track ID moves past them) and ``user_data``
    added to its ``udta``."""
    with open(path, "r+b") as file:
        top = _top_level(file)
        if [kind for kind, *_ in top[-2:]] != [b"mdat", b"moov"]:
            raise RuntimeError(f"expected ffmpeg's mdat then moov at the end, got {[kind for kind, *_ in top]}")
        (_, mdat_start, mdat_header, _), (_, moov_start, _, moov_end) = top[-2:]
        file.seek(moov_start)
        moov = file.read(moov_end - moov_start)
        movie = read_movie(moov)
        added = atoms(movie, moov_start)
        parts, user = [], [box(b"udta", *user_data)] if user_data else []
        for kind, start, payload, stop in children(moov, 8):
            part = moov[start:stop]
            if kind == b"mvhd":
                part = part[:-4] + struct.pack(">I", movie.next_track_id + tracks)
            elif kind == b"udta" and user:
                part, user = box(b"udta", moov[payload:stop], *user_data), []
            parts.append(part)
        file.seek(moov_start)
        file.write(sample + box(b"moov", *parts, *user, *added))
        file.truncate()
        size = moov_start + len(sample) - mdat_start
        if mdat_header == mdat_start + 16:
            file.seek(mdat_start + 8)
            file.write(struct.pack(">Q", size))
        elif size < 2**32:
            file.seek(mdat_start)
            file.write(struct.pack(">I", size))
        else:
            raise RuntimeError("the movie's mdat outgrew its 32-bit size")


def _top_level(file) -> list[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of the file's top-level boxes, read header by header."""
    end, position, found = file.seek(0, os.SEEK_END), 0, []
    while position + 8 <= end:
        file.seek(position)
        found.append(_box_at(file.read(16), position, end))
        position = found[-1][3]
    return found
