"""Safe, strict checkpoint loading, network detection and the .pth → .safetensors converter."""

import os
import pickletools
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from networks_golden import filled
from safetensors.torch import save_file

from models.networks import (
    HintFlowNet,
    SplatVideoNet,
    TextFlowNet,
    detect_network,
    load_flow_network,
    load_network,
    load_video_network,
)
from models.networks.checkpoints import expected_shapes, read_state_dict

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hint_state():
    return filled(HintFlowNet, "spadeunet").state_dict()


@pytest.fixture(scope="module")
def video_state():
    return filled(SplatVideoNet, "spadeunet4softmaxsplating").state_dict()


class _Payload:
    """A pickle payload whose unpickling would create ``marker`` (stands for arbitrary code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


def _assert_same_weights(network: torch.nn.Module, state: dict) -> None:
    loaded = network.state_dict()
    assert list(loaded) == list(state)
    assert all(torch.equal(loaded[key], value) for key, value in state.items())


@pytest.mark.parametrize("variant", ["pth", "module_pth", "netg_pth", "safetensors"])
def test_hint_network_loads_strictly_from_every_format(tmp_path, hint_state, variant):
    path = tmp_path / ("latest_net_G.safetensors" if variant == "safetensors" else "latest_net_G.pth")
    prefix = {"module_pth": "module.", "netg_pth": "netG."}.get(variant, "")
    if variant == "safetensors":
        save_file(hint_state, str(path))
    else:
        torch.save({prefix + key: value for key, value in hint_state.items()}, path)
    network = load_flow_network(path)
    assert isinstance(network, HintFlowNet)
    assert not network.training and not any(p.requires_grad for p in network.parameters())
    _assert_same_weights(network, hint_state)
    layer = network.dconv8  # the folded W/σ is live after loading (no stale or unfolded weight)
    sigma = layer.weight_u @ layer.weight_orig.reshape(2, -1) @ layer.weight_v
    torch.testing.assert_close(layer.weight, layer.weight_orig / sigma, rtol=1e-6, atol=0)


def test_video_network_loads_and_half_precision_files_become_float32(tmp_path, video_state):
    path = tmp_path / "video.pth"
    torch.save({"module." + key: value.half() for key, value in video_state.items()}, path)
    network = load_video_network(path)
    assert isinstance(network, SplatVideoNet)
    assert all(value.dtype == torch.float32 for value in network.state_dict().values())
    expected = {key: value.half().float() for key, value in video_state.items()}
    _assert_same_weights(network, expected)


def test_detection_from_keys(hint_state, video_state):
    text_state = {key: torch.empty(shape, device="meta") for key, shape in expected_shapes("text_flow").items()}
    assert detect_network(text_state) == "text_flow"
    assert detect_network({"module." + key: value for key, value in text_state.items()}) == "text_flow"
    assert detect_network(hint_state) == "hint_flow"
    assert detect_network(video_state) == "splat_video"
    with pytest.raises(ValueError, match="not a Text2Cinemagraph generator"):
        detect_network({"model.diffusion_model.x": torch.zeros(1)}, "sd.ckpt")


def test_truncated_state_dict_names_file_network_and_missing_keys(tmp_path, hint_state):
    path = tmp_path / "cut.pth"
    kept = dict(list(hint_state.items())[:50])
    torch.save(kept, path)
    with pytest.raises(ValueError) as error:
        load_flow_network(path, expect="hint_flow")
    message = str(error.value)
    assert str(path) in message and "spadeunet" in message and "92 missing keys" in message
    assert "dconv" in message  # the first missing keys are listed


def test_truncated_bytes_and_shape_mismatch(tmp_path, hint_state):
    good = tmp_path / "good.pth"
    torch.save(hint_state, good)
    cut = tmp_path / "cut_bytes.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="cut_bytes.pth: cannot be read"):
        load_network(cut)
    cut_st = tmp_path / "cut.safetensors"
    save_file(hint_state, str(cut_st))
    cut_st.write_bytes(cut_st.read_bytes()[:1000])
    with pytest.raises(ValueError, match="cut.safetensors: cannot be read"):
        load_network(cut_st)
    wrong = dict(hint_state)
    wrong["dconv8.bias"] = torch.zeros(3)
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match=r"1 shape mismatches.*dconv8.bias: expected \[2\], file \[3\]"):
        load_network(tmp_path / "wrong.pth")


def test_file_of_the_other_network_is_refused_clearly(tmp_path, hint_state, video_state):
    video = tmp_path / "video.pth"
    torch.save(video_state, video)
    with pytest.raises(ValueError, match="spadeunet4softmaxsplating.*load_video_network.*expected"):
        load_flow_network(video)
    hint = tmp_path / "hint.pth"
    torch.save(hint_state, hint)
    with pytest.raises(
        ValueError,
        match=r"hint.pth: holds the hint_flow \(spadeunet\) network \(pass expect=.hint_flow. or None\), "
        r"expected text_flow.*missing keys",
    ):
        load_flow_network(hint, expect="text_flow")
    with pytest.raises(ValueError, match="load_flow_network.*expected splat_video"):
        load_video_network(hint)
    with pytest.raises(ValueError, match="expect must be"):
        load_flow_network(hint, expect="splat_video")


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "evil": _Payload(marker)}, path)
    # control, read without unpickling: the file does carry a call of os.makedirs(marker) for any unpickler…
    with zipfile.ZipFile(path) as archive:
        pickled = next(archive.read(name) for name in archive.namelist() if name.endswith("data.pkl"))
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(pickled)]
    assert ("GLOBAL", "os makedirs") in ops and any(arg == str(marker) for _, arg in ops)
    assert "REDUCE" in {name for name, _ in ops}
    with pytest.raises(ValueError, match="evil.pth: cannot be read as a safe checkpoint"):
        load_network(path)
    with pytest.raises(ValueError, match="cannot be read"):
        read_state_dict(path)
    assert not marker.exists()  # …ours never does


def test_non_state_dict_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_network(tmp_path / "absent.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="expected a state dict"):
        load_network(tmp_path / "list.pth")
    torch.save({"state_dict": {"a": torch.zeros(1), "b": 3}}, tmp_path / "nested.pth")
    with pytest.raises(ValueError, match=r"not tensors: \['b'\]"):
        load_network(tmp_path / "nested.pth")


def test_meta_built_text_network_accepts_manifest_shaped_weights():
    """A's full load needs 1.3 GB per copy; its strict path is exercised on the meta device instead."""
    with torch.device("meta"):
        reference = TextFlowNet()
    state = {key: torch.empty(shape, device="meta") for key, shape in expected_shapes("text_flow").items()}
    reference.load_state_dict(state, strict=True, assign=True)
    assert list(reference.state_dict()) == list(state)


def _convert(*args: str) -> subprocess.CompletedProcess:
    script = REPO_ROOT / "scripts" / "convert_checkpoint.py"
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=REPO_ROOT)


def test_converter_writes_safetensors_next_to_the_pth(tmp_path, video_state):
    source = tmp_path / "latest_net_G.pth"
    torch.save({"module." + key: value for key, value in video_state.items()}, source)
    done = _convert(str(source))
    assert done.returncode == 0, done.stderr
    target = tmp_path / "latest_net_G.safetensors"
    assert done.stdout.strip() == str(target)
    _assert_same_weights(load_video_network(target), video_state)
    again = _convert(str(source))
    assert again.returncode == 1 and "already exists" in again.stderr
    assert _convert(str(source), "--force").returncode == 0


def test_converter_refuses_bad_files_without_running_them(tmp_path):
    marker = tmp_path / "payload_ran"
    source = tmp_path / "evil.pth"
    torch.save({"evil": _Payload(marker)}, source)
    done = _convert(str(source))
    assert done.returncode == 1 and "evil.pth: cannot be read as a safe checkpoint" in done.stderr
    assert not marker.exists() and not (tmp_path / "evil.safetensors").exists()
