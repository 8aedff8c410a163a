"""T2C_SaveCinemagraph inside the real ComfyUI: files land in the output folder, decode, and loop."""

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from executor import executor_clone
from PIL import Image


def _frames(t=10, h=37, w=52):
    gen = torch.Generator().manual_seed(0)
    return torch.rand(t, h, w, 3, generator=gen)


FORMATS = ["mp4", "gif", "webp", "webm", "apng", "motion photo", "live photo", "live photo hevc"]


def _saved_path(output_dir, saved, fmt):
    """The file a format's result names: the HEVC live photo is previewed by its still, the MOV is beside it."""
    path = output_dir / saved["subfolder"] / saved["filename"]
    return path.with_suffix(".MOV") if fmt == "live photo hevc" else path


@pytest.mark.parametrize("fmt", FORMATS)
def test_save_writes_decodable_loop(t2c_nodes, comfy_output_dir, fmt):
    from text2cinemagraph.models.io import encoding

    frames = _frames()
    result = t2c_nodes["T2C_SaveCinemagraph"].execute(
        frames=frames, filename_prefix="t2c/test", fps=30.0, format=fmt, quality=90, pingpong=False)
    saved = result.ui.as_dict()["images"]
    # The frontend would try a <video> for an animated GIF; a browser shows a motion photo's still and decodes no
    # HEVC (that live photo is previewed by its still).
    assert result.ui.as_dict().get("animated", (False,)) == (fmt not in ("gif", "motion photo", "live photo hevc"),)
    assert len(saved) == 1 and saved[0]["type"] == "output" and saved[0]["subfolder"] == "t2c"
    assert saved[0]["filename"].endswith(".JPG") == (fmt == "live photo hevc")
    path = _saved_path(comfy_output_dir, saved[0], fmt)
    assert path.name.endswith(encoding.EXTENSIONS[fmt]) and path.stat().st_size > 0
    assert not list(comfy_output_dir.rglob(".partial-*")), "temporary file left behind"
    if fmt in ("mp4", "webm", "live photo", "live photo hevc"):
        decoded = iio.imread(path, plugin="pyav")
        # 4:2:0 video needs even sides: one replicated row/column, the picture itself is unchanged in size;
        # a live photo plays the 1/3-s loop 5 times to last 1.5 s.
        assert decoded.shape[:3] == (50 if fmt.startswith("live photo") else 10, 38, 52)
        meta = iio.immeta(path, plugin="pyav")
        codec = {"webm": "vp9", "live photo hevc": "hevc"}.get(fmt, "h264")
        assert meta["codec"] == codec and meta["fps"] == pytest.approx(30.0)
    elif fmt == "motion photo":
        assert path.name.endswith("_MP.jpg")
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.size == (52, 37)
    else:
        with Image.open(path) as image:
            assert image.n_frames == 10 and image.size == (52, 37)
            assert image.info.get("loop") == 0, "must loop forever"
    if fmt.startswith("live photo"):
        with Image.open(path.with_suffix(".JPG")) as still:
            assert still.format == "JPEG" and still.size == (52, 37)


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


# ---- the graph in the file: what the executor hands an output node (hidden PROMPT / EXTRA_PNGINFO) ----------

WORKFLOW = {"last_node_id": 2, "nodes": [{"id": 2, "type": "T2C_SaveCinemagraph"}], "links": [], "version": 0.4}
PROMPT = {"2": {"class_type": "T2C_SaveCinemagraph", "inputs": {"filename_prefix": "meta", "fps": 30.0}}}


def _run_as_the_executor(node, extra_pnginfo=None, **inputs):
    """Save as the executor runs it: a class clone holding the hidden PROMPT / EXTRA_PNGINFO. ``extra_pnginfo``:
    what the client sent (default: the workflow)."""
    clone = executor_clone(node, {"PROMPT": PROMPT, "EXTRA_PNGINFO": {"workflow": WORKFLOW} if extra_pnginfo is None
                                  else extra_pnginfo})
    return clone.execute(**inputs).ui.as_dict()["images"][0]


def _read_back(path, fmt):
    import io
    import json

    from media_readers import motion_photo_video

    from text2cinemagraph.models.io import encoding

    if fmt in ("mp4", "webm", "live photo", "live photo hevc", "motion photo"):
        import av

        source = io.BytesIO(motion_photo_video(path.read_bytes())[0]) if fmt == "motion photo" else str(path)
        with av.open(source) as container:
            tags = {key.lower(): value for key, value in container.metadata.items()}  # webm: upper case
        return {key: json.loads(tags[key]) for key in ("prompt", "workflow") if key in tags}
    if fmt in ("webp", "apng"):
        with Image.open(path) as image:
            if fmt == "apng":
                return {key: json.loads(image.text[key]) for key in ("prompt", "workflow") if key in image.text}
            exif = image.getexif()
        return {text.split(":", 1)[0]: json.loads(text.split(":", 1)[1]) for text in exif.values()
                if isinstance(text, str) and text.split(":", 1)[0] in ("prompt", "workflow")}
    return encoding.read_gif_metadata(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_save_embeds_prompt_and_workflow(t2c_nodes, comfy_output_dir, fmt):
    saved = _run_as_the_executor(t2c_nodes["T2C_SaveCinemagraph"], frames=_frames(t=4), filename_prefix="meta",
                                 fps=30.0, format=fmt, quality=90, pingpong=False)
    assert _read_back(_saved_path(comfy_output_dir, saved, fmt), fmt) == {"prompt": PROMPT, "workflow": WORKFLOW}


def test_save_declares_the_hidden_inputs_the_executor_fills(t2c_nodes):
    hidden = t2c_nodes["T2C_SaveCinemagraph"].INPUT_TYPES()["hidden"]
    assert set(hidden) >= {"prompt", "extra_pnginfo"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_disable_metadata_flag_is_respected(t2c_nodes, comfy_output_dir, monkeypatch, fmt):
    from comfy.cli_args import args

    monkeypatch.setattr(args, "disable_metadata", True)
    saved = _run_as_the_executor(t2c_nodes["T2C_SaveCinemagraph"], frames=_frames(t=4), filename_prefix="nometa",
                                 fps=30.0, format=fmt, quality=90, pingpong=False)
    assert _read_back(_saved_path(comfy_output_dir, saved, fmt), fmt) == {}


def test_repeat_and_max_side_reach_the_file(t2c_nodes, comfy_output_dir):
    saved = t2c_nodes["T2C_SaveCinemagraph"].execute(
        frames=_frames(t=6, h=40, w=60), filename_prefix="wallpaper", fps=30.0, format="webm", quality=90,
        pingpong=False, repeat=4, max_side=31).ui.as_dict()["images"][0]
    decoded = iio.imread(comfy_output_dir / saved["filename"], plugin="pyav")
    assert decoded.shape[:3] == (24, 20, 30), "6 frames × 4, the long side at most 31 and even"


def test_repeat_times_frames_beyond_the_preflight_is_refused_naming_both(t2c_nodes, comfy_output_dir):
    from text2cinemagraph.models.checks import InputValueError
    from text2cinemagraph.nodes import memory

    frames = torch.zeros(memory.MAX_WRITTEN_FRAMES // 50 + 1, 8, 8, 3)
    with pytest.raises(InputValueError, match=r"`repeat` 50 × \d+ `frames`.*lower `repeat`"):
        t2c_nodes["T2C_SaveCinemagraph"].execute(frames=frames, filename_prefix="long", fps=30.0, format="mp4",
                                                 quality=90, pingpong=False, repeat=50)
    assert not list(comfy_output_dir.rglob("long*"))


def test_phone_file_names_get_their_suffix_without_overwriting(t2c_nodes, comfy_output_dir):
    """`…MP.jpg` and the live photo's NAME.JPG + NAME.MOV: a second save takes the next counter."""
    from media_readers import MOTION_PHOTO_NAME

    save = t2c_nodes["T2C_SaveCinemagraph"]
    names = []
    for fmt in ("motion photo", "motion photo", "live photo", "live photo"):
        names.append(save.execute(frames=_frames(t=4), filename_prefix="phone/pic", fps=30.0, format=fmt,
                                  quality=90).ui.as_dict()["images"][0]["filename"])
    assert names[:2] == ["pic_00001_MP.jpg", "pic_00002_MP.jpg"]
    assert all(MOTION_PHOTO_NAME.match(name) for name in names[:2])
    assert names[2:] == ["pic_00003_.MOV", "pic_00004_.MOV"]
    assert sorted(p.name for p in (comfy_output_dir / "phone").iterdir()) == [
        "pic_00001_MP.jpg", "pic_00002_MP.jpg", "pic_00003_.JPG", "pic_00003_.MOV", "pic_00004_.JPG", "pic_00004_.MOV"]
