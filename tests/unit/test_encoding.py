"""models.io.encoding: atomic writes with ordinary file permissions, clear errors, seamless pingpong, frames
converted chunk by chunk as they are encoded."""

import json
import os
import stat

import numpy as np
import pytest

from models.io import encoding
from models.io.encoding import FORMATS, LoopFrames, write_loop


def _frames(t=4):
    return np.random.default_rng(0).integers(0, 255, size=(t, 16, 24, 3), dtype=np.uint8)


@pytest.mark.parametrize("fmt", FORMATS)
def test_written_file_has_the_umask_mode_and_no_partial_is_left(tmp_path, fmt):
    previous = os.umask(0o022)
    try:
        path = write_loop(_frames(), tmp_path / f"x{encoding.EXTENSIONS[fmt]}", fmt, fps=24)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == _file_names(fmt)


def test_failed_encode_leaves_nothing_behind(tmp_path, monkeypatch):
    with pytest.raises(TypeError, match="floats in 0..1 or uint8"):
        write_loop(_frames().astype(np.int64), tmp_path / "x.gif", "gif", fps=24)
    with pytest.raises(ValueError, match="frames must be"):
        write_loop(np.zeros((2, 8, 8), np.uint8), tmp_path / "x.gif", "gif", fps=24)

    def half_written_then_cancelled(frames, path, fps, quality, *_, metadata=None):
        with open(path, "wb") as file:
            file.write(b"GIF89a")
        raise KeyboardInterrupt

    monkeypatch.setattr(encoding, "_write_gif", half_written_then_cancelled)
    with pytest.raises(KeyboardInterrupt):
        write_loop(_frames(), tmp_path / "x.gif", "gif", fps=24)
    assert list(tmp_path.iterdir()) == []


def test_bad_format_fps_and_nan_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        write_loop(_frames(), tmp_path / "x.avi", "avi", fps=24)
    with pytest.raises(ValueError, match="fps must be positive"):
        write_loop(_frames(), tmp_path / "x.gif", "gif", fps=0)
    with pytest.raises(ValueError, match="NaN"):
        write_loop(np.full((1, 2, 2, 3), np.nan), tmp_path / "x.gif", "gif", fps=24)
    assert list(tmp_path.iterdir()) == []


def test_pingpong_does_not_repeat_the_turning_frames():
    frames = np.arange(5, dtype=np.uint8)[:, None, None, None] * np.ones((1, 1, 1, 3), np.uint8)
    assert [int(frame[0, 0, 0]) for frame in LoopFrames(frames, pingpong=True)] == [0, 1, 2, 3, 4, 3, 2, 1]


@pytest.mark.parametrize("pingpong", [False, True])
def test_frames_converted_in_chunks_are_the_rounded_frames(monkeypatch, pingpong):
    frames = np.random.default_rng(0).uniform(-0.2, 1.2, (7, 5, 6, 3)).astype(np.float32)
    expected = np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)
    expected = np.concatenate([expected, expected[-2:0:-1]]) if pingpong else expected
    monkeypatch.setattr(encoding, "CONVERT_CHUNK_BYTES", 5 * 6 * 3 * 4 * 2)  # two frames per chunk
    loop = LoopFrames(frames, pingpong=pingpong)
    assert np.array_equal(np.stack(list(loop)), expected)
    frames[6, 0, 0, 0] = np.nan  # in the last chunk
    with pytest.raises(ValueError, match="NaN"):
        list(LoopFrames(frames))


@pytest.mark.parametrize("palette_pixels", [encoding.PALETTE_SAMPLE_PIXELS, 1000])
def test_gif_frames_decode_to_the_frames(tmp_path, monkeypatch, palette_pixels):
    """Frames of at most 256 colours come back exactly: the shared palette (from every pixel of the sampled frames,
    or every other row and column of them), the changed-box frames drawn over the previous one, and a frame
    identical to the one before it."""
    monkeypatch.setattr(encoding, "PALETTE_SAMPLE_PIXELS", palette_pixels)
    rng = np.random.default_rng(3)
    colours = rng.integers(0, 256, size=(40, 3), dtype=np.uint8)
    frames = colours[rng.integers(0, 40, size=(6, 20, 30))]
    frames[1:, :, :12] = frames[0, :, :12]  # a still part
    frames[3] = frames[2]
    frames[4, 5:9, 20:27] = colours[0]  # only a small box changes
    path = write_loop(frames, tmp_path / "x.gif", "gif", fps=25)
    import imageio.v3 as iio

    assert np.array_equal(iio.imread(path, index=None)[..., :3], frames)


def _file_names(fmt: str) -> list[str]:
    """What write_loop leaves for "x<extension>": the file, and a live photo's still beside it."""
    spec = encoding.FORMAT_TABLE[fmt]
    return sorted([f"x{spec.extension}"] + ([f"x{spec.companion}"] if spec.companion else []))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("cancel_at", [0, 2, "end"])
def test_cancel_between_frames_leaves_no_file(tmp_path, fmt, cancel_at):
    frames = _frames()
    written = len(encoding.prepare_loop(frames, fmt, 24))  # a live photo plays the loop for 1.5 s
    calls = []

    def on_frame(index):
        calls.append(index)
        if index == (written if cancel_at == "end" else cancel_at):
            raise KeyboardInterrupt

    path = tmp_path / f"x{encoding.EXTENSIONS[fmt]}"
    with pytest.raises(KeyboardInterrupt):
        write_loop(frames, path, fmt, fps=24, on_frame=on_frame)
    assert list(tmp_path.iterdir()) == []
    write_loop(frames, path, fmt, fps=24, on_frame=lambda index: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == _file_names(fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_frame_is_reported_in_order(tmp_path, fmt):
    calls = []
    frames = _frames(5).astype(np.float32) / 255
    written = len(encoding.prepare_loop(frames, fmt, 24))
    write_loop(frames, tmp_path / f"x{encoding.EXTENSIONS[fmt]}", fmt, fps=24, on_frame=calls.append)
    # then the finish (repeated while ffmpeg ends)
    assert calls[:written] == list(range(written)) and set(calls[written:]) == {written}


# ---- metadata: the graph travels in the file as ComfyUI's savers write it and its frontends read it ----------

WORKFLOW = {"last_node_id": 1, "nodes": [{"id": 1, "type": "Note", "widgets_values": ["a=b; c#d \\ e\nf ünï"]}],
            "links": [], "version": 0.4}
PROMPT = {"1": {"class_type": "T2C_SaveCinemagraph", "inputs": {"filename_prefix": "x=y;#z"}}}
METADATA = {"prompt": PROMPT, "workflow": WORKFLOW}


def _isobmff_boxes(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """Child boxes of [start, end): type → (payload start, box end)."""
    boxes, offset = {}, start
    while offset + 8 <= end:
        size = int.from_bytes(data[offset:offset + 4], "big")
        if size < 8:
            break
        boxes.setdefault(data[offset + 4:offset + 8], (offset + 8, offset + size))
        offset += size
    return boxes


def mp4_tags_as_the_frontend_reads_them(data: bytes) -> dict:
    """moov → udta → meta (full box) → keys + ilst, the path of the frontend's getFromIsobmffFile."""
    moov = _isobmff_boxes(data, 0, len(data))[b"moov"]
    udta = _isobmff_boxes(data, *moov)[b"udta"]
    meta = _isobmff_boxes(data, *udta)[b"meta"]
    inner = _isobmff_boxes(data, meta[0] + 4, meta[1])
    keys_start, keys_end = inner[b"keys"]
    count, offset, names = int.from_bytes(data[keys_start + 4:keys_start + 8], "big"), keys_start + 8, {}
    for index in range(1, count + 1):
        size = int.from_bytes(data[offset:offset + 4], "big")
        names[index] = data[offset + 8:offset + size].decode()
        offset += size
    tags = {}
    offset, ilst_end = inner[b"ilst"]
    while offset + 8 <= ilst_end:
        size = int.from_bytes(data[offset:offset + 4], "big")
        index = int.from_bytes(data[offset + 4:offset + 8], "big")
        data_box = _isobmff_boxes(data, offset + 8, offset + size)[b"data"]
        tags[names[index]] = data[data_box[0] + 8:data_box[1]].decode()
        offset += size
    return tags


def test_mp4_carries_prompt_and_workflow_where_the_frontend_looks(tmp_path):
    path = write_loop(_frames(), tmp_path / "loop.mp4", "mp4", fps=24, metadata=METADATA)
    data = path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "moov must come first (the reader reads the head)"
    tags = mp4_tags_as_the_frontend_reads_them(data)
    assert json.loads(tags["prompt"]) == PROMPT and json.loads(tags["workflow"]) == WORKFLOW
    import av

    with av.open(str(path)) as container:  # and any libav reader (core LoadVideo) sees the same tags
        assert json.loads(container.metadata["workflow"]) == WORKFLOW
        assert container.streams.video[0].frames == 4
    assert [p.name for p in tmp_path.iterdir()] == ["loop.mp4"], "the remux left temporary files"


def test_webp_carries_them_in_exif_like_core_save_animated_webp(tmp_path):
    from PIL import Image

    path = write_loop(_frames(), tmp_path / "loop.webp", "webp", fps=24, metadata=METADATA)
    with Image.open(path) as image:
        exif = image.getexif()
        assert image.n_frames == 4 and image.info.get("loop") == 0
    assert exif[0x0110].startswith("prompt:") and json.loads(exif[0x0110].removeprefix("prompt:")) == PROMPT
    assert exif[0x010F].startswith("workflow:") and json.loads(exif[0x010F].removeprefix("workflow:")) == WORKFLOW


def test_gif_carries_them_in_its_comment(tmp_path):
    from PIL import Image

    path = write_loop(_frames(), tmp_path / "loop.gif", "gif", fps=24, metadata=METADATA)
    assert encoding.read_gif_metadata(path) == METADATA
    with Image.open(path) as image:
        assert image.n_frames == 4 and image.info.get("loop") == 0


@pytest.mark.parametrize("fmt", ["gif", "webp", "mp4"])
def test_no_metadata_embeds_nothing(tmp_path, fmt):
    path = write_loop(_frames(), tmp_path / f"loop.{fmt}", fmt, fps=24, metadata={})
    data = path.read_bytes()
    assert b"workflow" not in data and b"prompt" not in data


def test_a_workflow_larger_than_a_command_line_argument_fits(tmp_path):
    big = {"nodes": [{"id": i, "type": "Note", "widgets_values": ["x" * 1000]} for i in range(200)]}  # ~200 KB
    path = write_loop(_frames(), tmp_path / "loop.mp4", "mp4", fps=24, metadata={"workflow": big})
    assert json.loads(mp4_tags_as_the_frontend_reads_them(path.read_bytes())["workflow"]) == big
