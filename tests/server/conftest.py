"""Stand-in weights in the session server's model folders, each built once per session (see standin_weights.py)."""

import os
import shutil

import imageio.v3 as iio
import pytest
from comfy_server import REPO_ROOT
from standin_weights import (
    SD15_CHECKPOINT,
    SMALL_PAINTING,
    cached_sd15_checkpoint,
    write_official_networks,
    write_random_clip_l,
)

# The Manager install belongs to the current-ComfyUI leg (scripts/test.sh), the one whose set-up installs the Manager.
collect_ignore = [] if os.environ.get("T2C_COMFYUI_LEG") == "current" else ["test_manager_install.py"]


@pytest.fixture(scope="session")
def sd15_checkpoint(comfy_server, request):
    """A random full-size SD1.5 checkpoint, saved under the name the bundled workflows select. Building it takes
    about 20 s, so it is built once and kept in pytest's cache (both legs of the version matrix link the same file),
    keyed by the code that builds it; a changed builder replaces the cached file."""
    path = comfy_server.models_dir / "checkpoints" / SD15_CHECKPOINT
    if not path.exists():
        cached = cached_sd15_checkpoint(request.config.cache.mkdir("t2c-standin-sd15"))
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(cached, path)
        except OSError:  # another file system
            shutil.copyfile(cached, path)
    return path


@pytest.fixture(scope="session")
def official_networks(comfy_server):
    """The three official networks (golden-filled) at the paths of the official checkpoints.tar."""
    return write_official_networks(comfy_server.models_dir / "text2cinemagraph")


@pytest.fixture(scope="session")
def clip_l_encoder(comfy_server):
    """A stand-alone random SD1.x CLIP-L text encoder for CLIPLoader."""
    return write_random_clip_l(comfy_server.models_dir / "text_encoders" / "clip_l_random.safetensors")


@pytest.fixture(scope="session")
def small_painting(comfy_server):
    """The sample painting at half size (384×256, alpha = its painted water mask) in the input folder."""
    pixels = iio.imread(REPO_ROOT / "assets" / "sample_painting.png")
    iio.imwrite(comfy_server.input_dir / SMALL_PAINTING, pixels[::2, ::2])
    return SMALL_PAINTING
