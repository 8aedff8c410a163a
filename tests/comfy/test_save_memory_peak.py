"""Save needs little memory beyond the frames it is given (issue 13, item 4): every format streams the frames through
its encoder. It measures our encoders, not ComfyUI, so only the oldest leg runs it (tests/comfy/conftest.py)."""

import pytest
import torch
from peak_memory import peak_over

pytestmark = pytest.mark.quiet  # measured alone: at the end of the leg, after the other leg


def _cinemagraph_frames(t: int, size: int) -> torch.Tensor:
    """A still (smooth gradients) whose lower half is a texture moving 3 px a frame: what Save is normally given."""
    gen = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    frames = torch.stack([y, x, (y + x) / 2], dim=-1).expand(t, size, size, 3).clone()
    texture = torch.nn.functional.avg_pool2d(torch.rand(1, 3, size, size, generator=gen), 5, 1, 2)[0].permute(1, 2, 0)
    for index in range(t):
        frames[index, size // 2:] = texture.roll(3 * index, dims=1)[size // 2:]
    return frames


@pytest.mark.parametrize(("fmt", "pingpong"), [("mp4", False), ("gif", False), ("webp", False), ("gif", True),
                                               ("webm", False), ("apng", False), ("motion photo", False),
                                               ("live photo", False)])
def test_save_peak_memory_is_at_most_a_fifth_over_the_frames(t2c_nodes, comfy_output_dir, fmt, pingpong):
    frames = _cinemagraph_frames(300, 512)  # 0.94 GB of float32
    t2c_nodes["T2C_SaveCinemagraph"].execute(frames=frames[:3, :16, :16], filename_prefix="warm", fps=30.0,
                                             format=fmt, quality=90, pingpong=pingpong)  # codecs loaded
    # The peak starts again from the current resident memory, which holds the frames.
    extra = peak_over(lambda: t2c_nodes["T2C_SaveCinemagraph"].execute(
        frames=frames, filename_prefix="peak", fps=30.0, format=fmt, quality=90, pingpong=pingpong))
    # 0.2 × frames: the bound. Measured with these frames: +44 MB (mp4), +47–65 MB (gif, +68 with
    # ping-pong), +47–82 MB (webp): one conversion chunk (32 MiB of float32 and its 8-bit copy) and the encoder's own
    # state. Before the frames were streamed through the encoders: +360 / +408 / +588 MB, +803 MB for the ping-pong
    # gif (an 8-bit copy of every frame, twice with ping-pong, and Pillow's list of every frame).
    # WebP: libwebp keeps the encoded file while it assembles it (about three copies), so frames that compress
    # badly (noise, a 66 MB file) reach +280 MB; a cinemagraph's few MB do not count.
    # webm, apng, motion photo and live photo (issue 20): +44 to +47 MB each (the motion photo's MP4 and the APNG with
    # its text chunks are copied file to file, the live photo's MOV is finished in place).
    assert extra <= 0.2 * frames.numel() * 4, f"Save peaked {extra / 1e6:.0f} MB over {frames.numel() * 4 / 1e6:.0f} MB"
