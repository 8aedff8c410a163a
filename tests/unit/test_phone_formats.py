"""The formats for phones, wallpapers and the web (issue 20), checked by independent readers: ffprobe, ExifTool,
Pillow and a Motion Photo reader written from the spec (tests/fixtures/media_readers.py)."""

import io
import json
import re

import media_readers as readers
import numpy as np
import pytest
from PIL import Image

from models.io import encoding
from models.io.encoding import prepare_loop, write_loop

UUID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$")
METADATA = {"prompt": {"1": {"class_type": "T2C_SaveCinemagraph", "inputs": {"fps": 24}}},
            "workflow": {"nodes": [{"id": 1, "type": "Note", "widgets_values": ["a=b; c#d \\ e\nf"]}]}}


def _cinemagraph(t=12, h=48, w=64):
    """A smooth still whose lower half moves 2 px a frame, uint8: what Save is given, compressible like it."""
    y, x = np.mgrid[0:h, 0:w]
    still = np.stack([y * 255 // h, x * 255 // w, (x + y) * 255 // (h + w)], axis=-1).astype(np.uint8)
    noise = np.random.default_rng(0).uniform(60, 200, size=(h // 8 + 1, w // 8 + 1, 3))
    texture = np.kron(noise, np.ones((8, 8, 1)))[:h, :w].astype(np.uint8)  # 8-px blocks: detail a codec keeps
    frames = np.repeat(still[None], t, axis=0)
    for index in range(t):
        frames[index, h // 2:] = np.roll(texture, 2 * index, axis=1)[h // 2:]
    return frames


def _write(tmp_path, fmt, frames=None, fps=24.0, repeat=1, max_side=0, metadata=None, notes=None):
    frames = _cinemagraph() if frames is None else frames
    loop = prepare_loop(frames, fmt, fps, repeat=repeat, max_side=max_side,
                        on_note=(notes.append if notes is not None else None))
    return write_loop(loop, tmp_path / f"loop_00001_{encoding.EXTENSIONS[fmt]}", fmt, fps, metadata=metadata)


CODEC_ERROR = 6.0
"""Mean absolute error (of 255) that JPEG at quality 90 and H.264 at CRF 14, both 4:2:0, leave on these small
saturated frames (measured 4.2); a frame of another time of the loop is several times further."""


def _codec_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


# ---- the videos: codec, pixel format, size, frame count, duration -------------------------------------------------

VIDEOS = {"mp4": ("h264", "mp4"), "webm": ("vp9", "webm"), "live photo": ("h264", "mov"),
          "live photo hevc": ("hevc", "mov")}


@pytest.mark.parametrize("fmt", list(VIDEOS))
@pytest.mark.parametrize("repeat", [1, 3])
def test_videos_have_the_codec_size_and_frames_times_repeat(tmp_path, fmt, repeat):
    frames = _cinemagraph(t=40)
    probe = readers.ffprobe(_write(tmp_path, fmt, frames, repeat=repeat))
    codec, container = VIDEOS[fmt]
    expected = min(40 * repeat, 72) if fmt.startswith("live photo") else 40 * repeat  # a live photo: at most 3 s
    assert probe["codec_name"] == codec and probe["pix_fmt"] == "yuv420p"
    assert probe["codec_tag_string"] == {"h264": "avc1", "hevc": "hvc1", "vp9": "[0][0][0][0]"}[codec]
    assert (probe["width"], probe["height"]) == (64, 48)
    assert container in probe["format"]["format_name"]
    assert int(probe["nb_read_frames"]) == expected
    assert float(probe["format"]["duration"]) == pytest.approx(expected / 24, abs=1e-3)


def test_motion_photo_video_has_frames_times_repeat(tmp_path):
    data = _write(tmp_path, "motion photo", repeat=2).read_bytes()
    video, _ = readers.motion_photo_video(data)
    (tmp_path / "inner.mp4").write_bytes(video)
    probe = readers.ffprobe(tmp_path / "inner.mp4")
    assert probe["codec_name"] == "h264" and probe["pix_fmt"] == "yuv420p"
    assert int(probe["nb_read_frames"]) == 24 and float(probe["format"]["duration"]) == pytest.approx(1.0, abs=1e-3)


def test_image_formats_loop_by_themselves_and_ignore_repeat(tmp_path):
    for fmt in ("gif", "webp", "apng"):
        with Image.open(_write(tmp_path, fmt, repeat=3)) as image:
            assert image.n_frames == 12 and image.info.get("loop") == 0, fmt


def test_webm_carries_the_graph_where_the_frontend_reads_it(tmp_path):
    tags = readers.ffprobe(_write(tmp_path, "webm", metadata=METADATA))["format"]["tags"]
    assert json.loads(tags["PROMPT"]) == METADATA["prompt"] and json.loads(tags["WORKFLOW"]) == METADATA["workflow"]


# ---- APNG: lossless, loops forever, the graph in text chunks as core SaveAnimatedPNG ------------------------------


def test_apng_is_lossless_loops_forever_and_carries_the_graph(tmp_path):
    frames = _cinemagraph()
    path = _write(tmp_path, "apng", frames, metadata=METADATA)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.n_frames == 12 and image.info["loop"] == 0
        assert image.info["duration"] == pytest.approx(1000 / 24, abs=1)
        decoded = []
        for index in range(image.n_frames):
            image.seek(index)
            decoded.append(np.asarray(image.convert("RGB")))
        text = {key: json.loads(image.text[key]) for key in ("prompt", "workflow")}
    assert np.array_equal(np.stack(decoded), frames)
    assert text == METADATA
    probe = readers.ffprobe(path)
    assert probe["codec_name"] == "apng" and int(probe["nb_read_frames"]) == 12


# ---- sizes: max_side, even sides for 4:2:0, padding with a note ------------------------------------------------


def test_max_side_scales_the_long_side_with_even_sides_for_video(tmp_path):
    probe = readers.ffprobe(_write(tmp_path, "mp4", max_side=33))
    assert (probe["width"], probe["height"]) == (32, 24)
    with Image.open(_write(tmp_path, "gif", max_side=33)) as image:
        assert image.size == (33, 25)
    assert readers.ffprobe(_write(tmp_path, "webm", max_side=0))["width"] == 64  # 0 = as rendered


def test_odd_sizes_are_padded_with_a_note_never_an_encoder_error(tmp_path):
    odd = _cinemagraph(h=37, w=51)
    for fmt in ("mp4", "webm", "live photo", "motion photo"):
        notes = []
        folder = tmp_path / fmt
        folder.mkdir()
        path = _write(folder, fmt, odd, notes=notes)
        assert any("51×37 is padded to 52×38" in note for note in notes), (fmt, notes)
        if fmt == "motion photo":
            video, _ = readers.motion_photo_video(path.read_bytes())
            assert readers.decode_video(video).shape[1:3] == (38, 52)
            with Image.open(path) as still:
                assert still.size == (51, 37), "the still keeps the picture's size"
        else:
            assert (readers.ffprobe(path)["width"], readers.ffprobe(path)["height"]) == (52, 38)


# ---- Google Motion Photo ---------------------------------------------------------------------------------------


def test_motion_photo_tags_as_exiftool_reads_them(tmp_path):
    path = _write(tmp_path, "motion photo", repeat=3)
    assert readers.MOTION_PHOTO_NAME.match(path.name), path.name
    tags = readers.exiftool(path, "-G1", "-struct")
    video, found = readers.motion_photo_video(path.read_bytes())
    video_length = len(video)
    assert tags["XMP-GCamera:MotionPhoto"] == 1 and tags["XMP-GCamera:MotionPhotoVersion"] == 1
    assert tags["XMP-GCamera:MicroVideo"] == 1 and tags["XMP-GCamera:MicroVideoVersion"] == 1
    assert tags["XMP-GCamera:MicroVideoOffset"] == video_length  # measured from the file's end
    # The still (frame 0) at its showing nearest the middle of the 3 loops: the start of the second, 0.5 s.
    assert tags["XMP-GCamera:MotionPhotoPresentationTimestampUs"] == 500_000
    items = [entry["Item"] for entry in tags["XMP-Container:Directory"]]
    assert [(item["Mime"], item["Semantic"], item["Length"]) for item in items] == [
        ("image/jpeg", "Primary", 0), ("video/mp4", "MotionPhoto", video_length)]
    assert items[0]["Padding"] == 0
    assert found["video_start"] + video_length == path.stat().st_size


def test_motion_photo_video_found_from_the_end_decodes_and_starts_with_the_still(tmp_path):
    frames = _cinemagraph()
    path = _write(tmp_path, "motion photo", frames, metadata=METADATA)
    data = path.read_bytes()
    video, found = readers.motion_photo_video(data)
    assert video[4:8] == b"ftyp", "the video item starts with an MP4 ftyp box"
    assert data[:found["video_start"]].endswith(b"\xff\xd9"), "the video starts right after the JPEG's EOI"
    xmp = readers.jpeg_xmp(data)
    for attribute in ('MotionPhoto="1"', 'MicroVideo="1"', f'Item:Length="{len(video)}"'):
        assert attribute in xmp, f"{attribute} must be a double-quoted attribute (readers match text)"
    decoded = readers.decode_video(video)
    assert decoded.shape == (12, 48, 64, 3)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        still = np.asarray(image.convert("RGB"))
    assert _codec_error(still, frames[0]) < CODEC_ERROR, "the still is frame 0"
    assert _codec_error(decoded[0], still) < CODEC_ERROR, "the video starts with the still, within codec error"
    assert _codec_error(decoded[6], still) > 2 * _codec_error(decoded[0], still), "a mid-loop frame differs"
    import av

    with av.open(io.BytesIO(video)) as container:  # the graph travels in the MP4
        assert json.loads(container.metadata["workflow"]) == METADATA["workflow"]


# ---- Apple Live Photo -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["live photo", "live photo hevc"])
def test_live_photo_pair_shares_one_content_identifier(tmp_path, fmt):
    movie = _write(tmp_path, fmt, metadata=METADATA)
    still = movie.with_suffix(".JPG")
    assert movie.suffix == ".MOV" and still.exists(), sorted(p.name for p in tmp_path.iterdir())
    maker = readers.exiftool(still, "-G1", "-Apple:all")
    (content_id,) = [value for key, value in maker.items() if key.endswith(("MediaGroupUUID", "ContentIdentifier"))]
    assert UUID.match(content_id), content_id
    tags = readers.ffprobe(movie)["format"]["tags"]
    assert tags["com.apple.quicktime.content.identifier"] == content_id
    assert json.loads(tags["workflow"]) == METADATA["workflow"], "the graph is in the MOV too"
    quicktime = readers.exiftool(movie, "-ee", "-G3")
    assert quicktime["Main:ContentIdentifier"] == content_id
    assert quicktime["Doc1:StillImageTime"] == -1
    assert quicktime["Main:ContentDescribes"] == 1, "the metadata track describes the video track (tref/cdsc)"


@pytest.mark.parametrize("fmt", ["live photo", "live photo hevc"])
def test_live_photo_timed_metadata_track_marks_the_still(tmp_path, fmt):
    frames = _cinemagraph()  # 0.5 s: played 3 times to reach 1.5 s
    movie = _write(tmp_path, fmt, frames)
    track = readers.ffprobe(movie, stream="d:0")
    assert track["codec_tag_string"] == "mebx" and track["tags"]["handler_name"] == "Core Media Metadata"
    (sample,) = readers.ffprobe_packets(movie, "d:0")
    assert int(sample["size"]) == 9  # 00000009 00000001 FF: key 1 = int8 -1
    assert float(sample["pts_time"]) == pytest.approx(0.5), "at the still's showing nearest the middle"
    decoded = readers.decode_video(movie.read_bytes())
    assert decoded.shape == (36, 48, 64, 3)
    with Image.open(movie.with_suffix(".JPG")) as image:
        still = np.asarray(image.convert("RGB"))
    assert _codec_error(decoded[12], still) < CODEC_ERROR and _codec_error(decoded[0], still) < CODEC_ERROR
    assert _codec_error(decoded[6], still) > 2 * CODEC_ERROR, "a mid-loop frame is not the still"


def test_live_photo_longer_than_three_seconds_is_cut_with_a_note(tmp_path):
    notes = []
    probe = readers.ffprobe(_write(tmp_path, "live photo", _cinemagraph(t=100), notes=notes))
    assert int(probe["nb_read_frames"]) == 72 and float(probe["format"]["duration"]) == pytest.approx(3.0, abs=1e-3)
    assert any("at most 3 s" in note and "first 72" in note for note in notes), notes


# ---- file names: never over an existing file ------------------------------------------------------------------


def _write_counted(folder, fmt):
    """As Save writes: the name ``loop_{counter}_{extension}`` from counter 1 on, the first one free."""
    return write_loop(_cinemagraph(), folder / "loop", fmt, 24.0, counter=1)


@pytest.mark.parametrize("fmt", ["motion photo", "live photo", "mp4"])
def test_an_existing_file_is_never_replaced(tmp_path, fmt):
    first = _write_counted(tmp_path, fmt)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    second = _write_counted(tmp_path, fmt)
    assert second.name == first.name.replace("00001", "00002")
    assert all((tmp_path / name).read_bytes() == data for name, data in before.items()), "nothing replaced"
    if fmt == "live photo":  # a pair takes a counter free for both files
        stray = tmp_path / "loop_00003_.JPG"
        stray.write_bytes(b"someone else's")
        third = _write_counted(tmp_path, fmt)
        assert third.name == "loop_00004_.MOV" and stray.read_bytes() == b"someone else's"
        assert not (tmp_path / "loop_00003_.MOV").exists() and (tmp_path / "loop_00004_.JPG").exists()
    assert not list(tmp_path.glob(".partial-*"))


def test_a_file_system_without_hard_links_still_never_replaces(tmp_path, monkeypatch):
    from models.io import files

    def no_links(*_):
        raise PermissionError("hard links not supported")

    monkeypatch.setattr(files.os, "link", no_links)
    (tmp_path / "loop_00001_.JPG").write_bytes(b"kept")
    movie = _write_counted(tmp_path, "live photo")
    assert movie.name == "loop_00002_.MOV" and (tmp_path / "loop_00001_.JPG").read_bytes() == b"kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop_00001_.JPG", "loop_00002_.JPG", "loop_00002_.MOV"]


@pytest.mark.parametrize(("size", "max_side", "even", "expected"), [
    ((512, 768), 0, True, (512, 768)), ((512, 768), 1000, True, (512, 768)), ((1080, 1920), 1280, True, (720, 1280)),
    ((37, 51), 25, True, (18, 24)), ((37, 51), 25, False, (18, 25)), ((900, 300), 301, True, (300, 100)),
    ((4, 4000), 2, True, (2, 2)),
])
def test_fitted_size_keeps_the_aspect_under_max_side(size, max_side, even, expected):
    assert encoding.fitted_size(*size, max_side, even) == expected
