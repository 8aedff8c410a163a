"""A checkpoint that declares more to read than the official networks need is refused before it is read (issue 22,
item 10): a huge .safetensors header, a zip-bomb .pth."""

import json
import resource
import time
import zipfile

import pytest
import torch
from safetensors.torch import save_file

from models.checks import InputValueError
from models.networks import checkpoints


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_huge_safetensors_header_is_refused_before_it_is_parsed(tmp_path):
    header = json.dumps({"__metadata__": {"padding": "x" * 53_000_000}}).encode()
    path = tmp_path / "huge_header.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    del header
    start = time.monotonic()
    with pytest.raises(InputValueError, match=r"huge_header\.safetensors: its header declares 53 MB .*at most 8\.39"):
        checkpoints.read_state_dict(path)
    assert time.monotonic() - start < 1


def test_a_zip_bomb_pth_is_refused_before_anything_is_inflated(tmp_path):
    path = tmp_path / "bomb.pth"
    torch.save({"w": torch.zeros(4)}, path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive, \
            archive.open("bomb/data/1", "w", force_zip64=True) as entry:
        zeros = bytes(2**24)
        for _ in range(64):  # 1 GiB of zeros, about 1 MB packed
            entry.write(zeros)
    assert path.stat().st_size < 4 * 2**20
    before = _peak_rss_mb()
    with pytest.raises(InputValueError, match=r"bomb\.pth: unpacks to 1\.07e\+03 MB from"):
        checkpoints.read_state_dict(path)
    assert _peak_rss_mb() - before < 100


def test_real_checkpoints_pass_the_bounds(tmp_path):
    tensors = {f"layer{i}.weight": torch.rand(64, 64) for i in range(20)}
    save_file(tensors, str(tmp_path / "ok.safetensors"))
    torch.save(tensors, tmp_path / "ok.pth")
    for name in ("ok.safetensors", "ok.pth"):
        loaded = checkpoints.read_state_dict(tmp_path / name)
        assert set(loaded) == set(tensors) and all(torch.equal(loaded[k], tensors[k]) for k in tensors)
