"""models.io.encoding: atomic writes with ordinary file permissions, clear errors, seamless pingpong."""

import os
import stat

import numpy as np
import pytest

from models.io import encoding
from models.io.encoding import FORMATS, frames_to_uint8, pingpong, write_loop


def _frames(t=4):
    return np.random.default_rng(0).integers(0, 255, size=(t, 16, 24, 3), dtype=np.uint8)


@pytest.mark.parametrize("fmt", ["gif", "webp", "mp4"])
def test_written_file_has_the_umask_mode_and_no_partial_is_left(tmp_path, fmt):
    previous = os.umask(0o022)
    try:
        path = write_loop(_frames(), tmp_path / f"loop.{fmt}", fmt, fps=24)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == [f"loop.{fmt}"]


def test_failed_encode_leaves_nothing_behind(tmp_path, monkeypatch):
    with pytest.raises(TypeError, match="uint8"):
        write_loop(_frames().astype(np.float32), tmp_path / "x.gif", "gif", fps=24)
    with pytest.raises(ValueError, match="frames must be"):
        write_loop(np.zeros((2, 8, 8), np.uint8), tmp_path / "x.gif", "gif", fps=24)

    def half_written_then_cancelled(frames, path, fps, quality, *_):
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
        frames_to_uint8(np.full((1, 2, 2, 3), np.nan))


def test_pingpong_does_not_repeat_the_turning_frames():
    frames = np.arange(5)[:, None, None, None] * np.ones((1, 1, 1, 3), np.uint8)
    assert pingpong(frames)[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4, 3, 2, 1]


def test_frames_to_uint8_in_chunks_equals_the_whole(monkeypatch):
    frames = np.random.default_rng(0).uniform(-0.2, 1.2, (7, 5, 6, 3)).astype(np.float32)
    whole = frames_to_uint8(frames)
    monkeypatch.setattr(encoding, "CONVERT_CHUNK_BYTES", 5 * 6 * 3 * 4 * 2)  # two frames per chunk
    assert np.array_equal(frames_to_uint8(frames), whole)
    assert np.array_equal(whole, np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8))
    frames[6, 0, 0, 0] = np.nan  # in the last chunk
    with pytest.raises(ValueError, match="NaN"):
        frames_to_uint8(frames)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("cancel_at", [0, 2, "end"])
def test_cancel_between_frames_leaves_no_file(tmp_path, fmt, cancel_at):
    frames = _frames()
    calls = []

    def on_frame(index):
        calls.append(index)
        if index == (len(frames) if cancel_at == "end" else cancel_at):
            raise KeyboardInterrupt

    if fmt == "webp" and cancel_at != "end":  # webp is encoded in one call: checked once, before the move
        return
    with pytest.raises(KeyboardInterrupt):
        write_loop(frames, tmp_path / f"x.{fmt}", fmt, fps=24, on_frame=on_frame)
    assert list(tmp_path.iterdir()) == []
    write_loop(frames, tmp_path / f"x.{fmt}", fmt, fps=24, on_frame=lambda index: None)
    assert [p.name for p in tmp_path.iterdir()] == [f"x.{fmt}"]


def test_conversion_checks_for_cancel_between_chunks(monkeypatch):
    monkeypatch.setattr(encoding, "CONVERT_CHUNK_BYTES", 16 * 24 * 3 * 4)  # one frame per chunk
    calls = []
    frames_to_uint8(_frames(5).astype(np.float32) / 255, on_chunk=lambda: calls.append(1))
    assert len(calls) == 5
