"""T2C_SaveCinemagraph inside the real ComfyUI: files land in the output folder, decode, and loop."""

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image


def _frames(t=10, h=37, w=52):
    gen = torch.Generator().manual_seed(0)
    return torch.rand(t, h, w, 3, generator=gen)


@pytest.mark.parametrize("fmt", ["mp4", "gif", "webp"])
def test_save_writes_decodable_loop(t2c_nodes, comfy_output_dir, fmt):
    frames = _frames()
    result = t2c_nodes["T2C_SaveCinemagraph"].execute(
        frames=frames, filename_prefix="t2c/test", fps=30.0, format=fmt, quality=90, pingpong=False)
    saved = result.ui.as_dict()["images"]
    assert result.ui.as_dict()["animated"] == (True,)
    assert len(saved) == 1 and saved[0]["type"] == "output" and saved[0]["subfolder"] == "t2c"
    path = comfy_output_dir / saved[0]["subfolder"] / saved[0]["filename"]
    assert path.suffix == "." + fmt and path.stat().st_size > 0
    assert not list(comfy_output_dir.rglob(".partial-*")), "temporary file left behind"
    if fmt == "mp4":
        decoded = iio.imread(path, plugin="pyav")
        assert decoded.shape[0] == 10
        # H.264 needs even sides: one replicated row/column, the picture itself is unchanged in size.
        assert decoded.shape[1:3] == (38, 52)
        meta = iio.immeta(path, plugin="pyav")
        assert meta["codec"] == "h264" and meta["fps"] == pytest.approx(30.0)
    else:
        with Image.open(path) as image:
            assert image.n_frames == 10 and image.size == (52, 37)
            assert image.info.get("loop") == 0, "must loop forever"


def test_save_pingpong_and_counter(t2c_nodes, comfy_output_dir):
    save = t2c_nodes["T2C_SaveCinemagraph"]
    first = save.execute(frames=_frames(t=6), filename_prefix="pp", fps=12.0, format="gif", quality=90,
                         pingpong=True).ui.as_dict()["images"][0]
    second = save.execute(frames=_frames(t=6), filename_prefix="pp", fps=12.0, format="gif", quality=90,
                          pingpong=False).ui.as_dict()["images"][0]
    assert first["filename"] != second["filename"], "the counter must not overwrite earlier results"
    with Image.open(comfy_output_dir / first["filename"]) as image:
        assert image.n_frames == 6 + 4  # forward, then back without repeating either end


def test_save_static_region_is_identical_in_every_gif_frame(t2c_nodes, comfy_output_dir):
    """A cinemagraph's still part must not shimmer: one shared palette, no dithering."""
    gen = torch.Generator().manual_seed(1)
    still = torch.rand(1, 40, 40, 3, generator=gen).repeat(8, 1, 1, 1)
    still[:, :, 20:] = torch.rand(8, 40, 20, 3, generator=gen)  # the right half moves
    saved = t2c_nodes["T2C_SaveCinemagraph"].execute(
        frames=still, filename_prefix="still", fps=30.0, format="gif", quality=90).ui.as_dict()["images"][0]
    decoded = iio.imread(comfy_output_dir / saved["filename"], index=None)
    left = decoded[:, :, :20, :3].astype(int)
    assert np.abs(left - left[0]).max() == 0


def test_save_rejects_nan_frames(t2c_nodes, comfy_output_dir):
    frames = _frames()
    frames[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        t2c_nodes["T2C_SaveCinemagraph"].execute(frames=frames, filename_prefix="x", fps=30.0, format="gif",
                                                 quality=90)
    assert not list(comfy_output_dir.rglob("*.gif"))
