"""Stand-in weights for the end-to-end server tests: right architecture and file layout, seeded random values.

* :func:`write_sd15_checkpoint`: a full-size SD1.5 checkpoint (UNet + VAE + CLIP-L, fp16 .safetensors, about
  2 GB) in the original LDM key layout, so ComfyUI's stock ``CheckpointLoaderSimple`` detects it as SD1.5. The
  UNet and VAE are ComfyUI's own classes (the UNet with the SD1.5 configuration of ``tests/comfy/tiny_sd.py``),
  the text encoder is transformers' CLIP-L. It is built in a child process, so the ~2 GB of build-time memory
  is returned as soon as the file is written.
* :func:`write_official_networks`: the three official networks, golden-filled (docs/networks.md#the-golden-fill),
saved with
  ``torch.save`` at the paths of the official ``checkpoints.tar`` (``motion-pretrained/latest_net_G.pth`` …).
* :func:`write_random_clip_l`: a stand-alone SD1.x CLIP-L text encoder for ``CLIPLoader``.

The fixtures in ``tests/server/conftest.py`` call these once per session.
Run by hand: ``.venv/bin/python tests/server/standin_weights.py sd15 OUT.safetensors``.
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

REPO_ROOT = Path(__file__).resolve().parents[2]

SD15_CHECKPOINT = "v1-5-pruned-emaonly-fp16.safetensors"  # what the bundled workflows select
"""The checkpoint name the bundled workflows select; the stand-in is saved under it."""

SMALL_PAINTING = "sample_painting_small.png"
"""The sample painting at half size (384×256), written to the input folder by the ``small_painting`` fixture."""

NETWORK_FILES = {
    "text_flow": "motion-pretrained/latest_net_G.pth",
    "hint_flow": "motion-direction-pretrained/latest_net_G.pth",
    "splat_video": "video-pretrained/latest_net_G.pth",
}
"""Where the official checkpoints.tar puts each network, relative to ComfyUI/models/text2cinemagraph/."""

SD_VAE_CONFIG = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                 "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}
"""The SD1.x autoencoder (KL-f8, 4 latent channels)."""


def random_clip_l_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """An SD1.x CLIP-L text encoder (transformers layout with the ``text_model.`` prefix, fp16, seeded)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    config = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                            num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu")
    state = CLIPTextModel(config).half().state_dict()
    # transformers 5 dropped the "text_model." prefix that ComfyUI's SD1 CLIP detection looks for.
    return {k if k.startswith("text_model.") else f"text_model.{k}": v.contiguous() for k, v in state.items()}


def write_random_clip_l(path: Path, seed: int = 0) -> Path:
    """A CLIP-L text encoder file that ComfyUI's ``CLIPLoader`` (type stable_diffusion) accepts."""
    save_file(random_clip_l_state_dict(seed), str(path))
    return path


def write_official_networks(folder: Path, kinds: tuple[str, ...] = tuple(NETWORK_FILES)) -> dict[str, Path]:
    """Golden-filled official networks as ``<folder>/<network>-pretrained/latest_net_G.pth`` (plain state dicts)."""
    from golden_fill import golden_fill_
    from models.networks import NETWORKS

    written = {}
    for kind in kinds:
        path = Path(folder) / NETWORK_FILES[kind]
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(golden_fill_(NETWORKS[kind]()).state_dict(), path)
        written[kind] = path
    return written


def write_sd15_checkpoint(path: Path, seed: int = 0, timeout: float = 900.0) -> Path:
    """A randomly initialised full-size SD1.5 checkpoint at ``path``, built in a child process."""
    subprocess.run([sys.executable, __file__, "sd15", str(path), str(seed)], check=True, timeout=timeout)
    return Path(path)


def cached_sd15_checkpoint(cache_dir: Path, seed: int = 0) -> Path:
    """The checkpoint of :func:`write_sd15_checkpoint` in ``cache_dir``, built there unless a file made by this very
    builder (same source of this module and of ``tiny_sd.py``, same seed) is already there; other files go."""
    sources = (Path(__file__), REPO_ROOT / "tests" / "comfy" / "tiny_sd.py")
    key = hashlib.sha256(b"".join(source.read_bytes() for source in sources) + str(seed).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"sd15-{key}.safetensors"
    with open(Path(cache_dir) / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test sessions at once: one builds, the other waits for its file
        if not path.exists():
            for stale in Path(cache_dir).glob("sd15-*"):
                stale.unlink()
            partial = path.with_suffix(".partial")
            write_sd15_checkpoint(partial, seed)
            partial.replace(path)  # never a half-written file under the final name
    return path


# ------------------------------------------------------------------------------------------------ child process


def _build_sd15(path: Path, seed: int) -> None:
    """Needs ComfyUI's modules: only ever run in a child process (see :func:`write_sd15_checkpoint`)."""
    sys.path[:0] = [str(REPO_ROOT / "scripts"), str(REPO_ROOT / "tests" / "comfy")]
    from comfy_server import comfy_dir

    sys.path.insert(0, str(comfy_dir()))
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    import comfy.ldm.models.autoencoder
    import comfy.supported_models
    from tiny_sd import SD15_UNET, randomise_

    state: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        config = comfy.supported_models.SD15(dict(SD15_UNET, dtype=torch.float16))
        config.set_inference_dtype(torch.float16, None)
        unet = config.get_model({}).diffusion_model
        randomise_(unet, seed)
        state.update({f"model.diffusion_model.{k}": v.half().contiguous() for k, v in unet.state_dict().items()})
        del unet
        vae = comfy.ldm.models.autoencoder.AutoencoderKL(ddconfig=dict(SD_VAE_CONFIG), embed_dim=4)
        randomise_(vae, seed + 1)
        state.update({f"first_stage_model.{k}": v.half().contiguous() for k, v in vae.state_dict().items()})
        del vae
    clip = random_clip_l_state_dict(seed + 2)
    state.update({f"cond_stage_model.transformer.{k}": v for k, v in clip.items()})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"stand-in": f"random SD1.5, seed {seed}"})


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "sd15":
        raise SystemExit(f"usage: {sys.argv[0]} sd15 OUT.safetensors [SEED]")
    _build_sd15(Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)
