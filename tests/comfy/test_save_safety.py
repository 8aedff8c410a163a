"""Save Cinemagraph never loses or hides a file and never reports a wrong file as success (issue 22): no file is
replaced, names stay in the output folder and visible, GIFs play at the asked speed, metadata that cannot be
written costs no frames, and a bad name is refused before the encode with the input named."""

import importlib
import logging
import os
import time

import pytest
import torch
from PIL import Image
from test_save_node import _run_as_the_executor


@pytest.fixture()
def pack_module(t2c_pack):
    """A module of the pack as ComfyUI loaded it (its classes are the ones raised)."""
    return lambda name: importlib.import_module(f"{t2c_pack.__name__}.{name}")


def _save(nodes, frames=None, prefix="safe/loop", fmt="gif", fps=30.0):
    frames = torch.rand(4, 16, 24, 3, generator=torch.Generator().manual_seed(0)) if frames is None else frames
    saved = nodes["T2C_SaveCinemagraph"].execute(frames=frames, filename_prefix=prefix, fps=fps, format=fmt,
                                                 quality=90).ui.as_dict()["images"][0]
    return saved


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink())


# ---- item 2: a file created meanwhile under the chosen name survives ---------------------------------------------

@pytest.mark.parametrize("fmt", ["gif", "mp4", "webp"])
def test_a_file_created_during_the_encode_is_not_replaced(t2c_nodes, comfy_output_dir, pack_module, monkeypatch, fmt):
    encoding = pack_module("models.io.encoding")
    writer = f"_write_{fmt}"
    original = getattr(encoding, writer)

    def another_writer_takes_the_name(loop, path, *args, **kwargs):
        (comfy_output_dir / "safe" / f"loop_00001_.{fmt}").write_bytes(b"another instance's file")
        return original(loop, path, *args, **kwargs)

    monkeypatch.setattr(encoding, writer, another_writer_takes_the_name)
    saved = _save(t2c_nodes, fmt=fmt)
    assert (comfy_output_dir / "safe" / f"loop_00001_.{fmt}").read_bytes() == b"another instance's file"
    assert saved["filename"] == f"loop_00002_.{fmt}" and saved["subfolder"] == "safe"
    assert _files(comfy_output_dir) == [f"safe/loop_00001_.{fmt}", f"safe/loop_00002_.{fmt}"]


def test_without_hard_links_the_name_is_claimed_exclusively(tmp_path, pack_module, monkeypatch):
    files = pack_module("models.io.files")
    monkeypatch.setattr(files.os, "link", lambda *_: (_ for _ in ()).throw(PermissionError("no hard links")))
    (tmp_path / "loop_00001_.gif").write_bytes(b"kept")
    temp = tmp_path / ".partial-x.gif"
    temp.write_bytes(b"new")
    final = files.move_into_place(temp, tmp_path, "loop", ".gif")
    assert final.name == "loop_00002_.gif" and final.read_bytes() == b"new"
    assert (tmp_path / "loop_00001_.gif").read_bytes() == b"kept" and not temp.exists()


# ---- item 3: a GIF plays at the asked speed ------------------------------------------------------------------------

def _durations(path):
    with Image.open(path) as image:
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            durations.append(image.info["duration"])
    return durations


@pytest.mark.parametrize(("fps", "frames"), [(60.0, 12), (120.0, 24), (53.0, 10), (105.0, 7), (30.0, 9)])
def test_a_gif_never_has_a_delay_under_20_ms_and_lasts_the_loop(t2c_nodes, comfy_output_dir, caplog, fps, frames):
    clip = torch.rand(frames, 8, 8, 3, generator=torch.Generator().manual_seed(1))
    with caplog.at_level(logging.WARNING):
        saved = _save(t2c_nodes, frames=clip, fps=fps)
    durations = _durations(comfy_output_dir / saved["subfolder"] / saved["filename"])
    assert min(durations) >= 20, durations
    assert abs(sum(durations) - 1000 * frames / fps) <= 10, (sum(durations), durations)
    dropped = len(durations) < frames
    assert dropped == (fps > 50)
    assert dropped == any("at least 20 ms" in r.getMessage() for r in caplog.records)


# ---- item 5: metadata that cannot be written costs no frames and leaves nothing hidden -----------------------------

@pytest.mark.parametrize("fmt", ["mp4", "webp", "gif"])
def test_a_key_that_is_not_utf8_is_escaped_and_the_file_saved(t2c_nodes, comfy_output_dir, fmt):
    node = t2c_nodes["T2C_SaveCinemagraph"]
    saved = _run_as_the_executor(node, frames=torch.rand(3, 8, 8, 3), filename_prefix="meta/x", fps=10.0, format=fmt,
                                 quality=90, extra_pnginfo={"workflow": {"a": 1}, "bad\ud800key": {"b": "\udc80"}})
    assert (comfy_output_dir / "meta" / saved["filename"]).stat().st_size > 0
    assert _files(comfy_output_dir) == [f"meta/{saved['filename']}"], "a hidden partial file stayed"


def test_extra_pnginfo_that_is_not_a_dict_is_left_out(t2c_nodes, comfy_output_dir, caplog):
    with caplog.at_level(logging.WARNING):
        saved = _run_as_the_executor(t2c_nodes["T2C_SaveCinemagraph"], frames=torch.rand(3, 8, 8, 3),
                                     filename_prefix="meta/x", fps=10.0, format="webp", quality=90,
                                     extra_pnginfo=["not", "a", "dict"])
    assert (comfy_output_dir / "meta" / saved["filename"]).exists()
    assert any("extra_pnginfo" in r.getMessage() for r in caplog.records)


def test_a_webp_with_more_keys_than_exif_tags_keeps_its_frames(t2c_nodes, comfy_output_dir, pack_module, caplog):
    keys = {f"key{i}": i for i in range(300)}
    with caplog.at_level(logging.WARNING):
        saved = _run_as_the_executor(t2c_nodes["T2C_SaveCinemagraph"], frames=torch.rand(3, 8, 8, 3),
                                     filename_prefix="meta/x", fps=10.0, format="webp", quality=90,
                                     extra_pnginfo={"workflow": {}, **keys})
    with Image.open(comfy_output_dir / "meta" / saved["filename"]) as image:
        assert image.n_frames == 3
        exif = image.getexif()
    kept = len(pack_module("models.io.encoding").exif_key_tags())
    assert len(exif) == 1 + kept and exif[0x010F].startswith("workflow:")  # prompt, then the keys in order
    assert any("left out" in r.getMessage() for r in caplog.records)


def test_a_failing_metadata_write_saves_the_mp4_and_leaves_nothing_hidden(t2c_nodes, comfy_output_dir, monkeypatch,
                                                                          caplog):
    from pathlib import Path

    write_text = Path.write_text

    def disk_full(self, *args, **kwargs):
        if self.name.endswith(".ffmeta"):
            with open(self, "w") as file:
                file.write(";FFMETA")
            raise OSError(28, "No space left on device")
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", disk_full)
    with caplog.at_level(logging.WARNING):
        saved = _run_as_the_executor(t2c_nodes["T2C_SaveCinemagraph"], frames=torch.rand(3, 8, 8, 3),
                                     filename_prefix="meta/x", fps=10.0, format="mp4", quality=90)
    assert _files(comfy_output_dir) == [f"meta/{saved['filename']}"]
    assert any("without its workflow" in r.getMessage() for r in caplog.records)


# ---- item 8: names stay visible and inside the output folder ---------------------------------------------------------

@pytest.mark.parametrize("prefix", [".", "..", ".hidden/loop", "a/./b", "a/../../b", "/etc/loop", "x/.loop"])
def test_hidden_or_escaping_prefixes_are_refused_naming_the_input(t2c_nodes, comfy_output_dir, pack_module, prefix):
    with pytest.raises(pack_module("models.checks").InputValueError, match="`filename_prefix`"):
        _save(t2c_nodes, prefix=prefix)
    assert _files(comfy_output_dir) == []


def test_a_prefix_ending_in_a_slash_names_a_folder(t2c_nodes, comfy_output_dir):
    saved = _save(t2c_nodes, prefix="name/")
    assert (saved["subfolder"], saved["filename"]) == ("name", "loop_00001_.gif")
    assert _files(comfy_output_dir) == ["name/loop_00001_.gif"]


def test_a_symlink_out_of_the_output_folder_is_refused(t2c_nodes, comfy_output_dir, tmp_path_factory, pack_module):
    outside = tmp_path_factory.mktemp("outside")
    os.symlink(outside, comfy_output_dir / "link")
    with pytest.raises(pack_module("models.checks").InputValueError, match="`filename_prefix`.*link.*outside"):
        _save(t2c_nodes, prefix="link/loop")
    assert list(outside.iterdir()) == []


# ---- item 9: a bad name or size is refused before the encode, naming the input -------------------------------------

@pytest.fixture()
def no_encode(pack_module, monkeypatch):
    """Any encode fails the test: the refusal must come first."""
    encoding = pack_module("models.io.encoding")
    for fmt in ("mp4", "gif", "webp"):
        monkeypatch.setattr(encoding, f"_write_{fmt}", lambda *_, **__: pytest.fail("encoded before refusing"))


@pytest.mark.parametrize(("prefix", "message"), [
    ("a\x00b", "`filename_prefix` contains a NUL"),
    ("x" * 300, "`filename_prefix` has a part of 300 characters"),
    ("d/" * 2000 + "loop", "`filename_prefix` names 2000 nested folders"),
    ("afile/loop", "`filename_prefix` 'afile/loop': 'afile' exists in the output folder as a file"),
])
def test_a_bad_prefix_is_refused_before_encoding(t2c_nodes, comfy_output_dir, pack_module, no_encode, prefix,
                                                 message):
    (comfy_output_dir / "afile").write_bytes(b"")
    start = time.monotonic()
    with pytest.raises(pack_module("models.checks").InputValueError, match=message):
        _save(t2c_nodes, prefix=prefix)
    assert time.monotonic() - start < 5
    assert _files(comfy_output_dir) == ["afile"]


@pytest.mark.parametrize(("fmt", "width"), [("webp", 16384), ("gif", 70000), ("mp4", 16386)])
def test_frames_too_wide_for_the_format_are_refused_naming_frames(t2c_nodes, comfy_output_dir, pack_module,
                                                                 no_encode, fmt, width):
    with pytest.raises(pack_module("models.checks").InputValueError,
                       match=rf"frames of {width}×2 px are too large for {fmt}"):
        _save(t2c_nodes, frames=torch.zeros(2, 2, width, 3), fmt=fmt)
    assert _files(comfy_output_dir) == []
