"""Network B (HintFlowNet, ``spadeunet``) against the official golden vectors
(docs/networks.md#network-b-hint-flow, docs/networks.md#golden-files)."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from networks_golden import (
    assert_matches_fill_check,
    capture_outputs,
    filled,
    kernel_tolerance,
    load_golden,
    max_error,
)
from safetensors.torch import load_file

from models.networks import HintFlowNet

OFFICIAL = "spadeunet"
INTERMEDIATES = ["spade_layer8_0", "conv8", "spade_layer8_7", "spade_layer2_1", "dconv8"]
ATOL = 1e-5
# The golden run used oneDNN's AVX2 convolution kernels. On an AVX-512 CPU the float32 accumulation
# order differs and B's output moves by 1.2e-5 — as far as the golden values themselves are from a
# float64 evaluation (1.27e-5). Pinning oneDNN to AVX2 (a fresh process: the ISA is fixed at first use)
# reproduces the golden run to ~1e-6, so the strict 1e-5 check runs there; in process (this CPU's kernels)
# each bound is float32 roundings of the magnitude the values accumulate from (kernel_tolerance).

_PINNED_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    from safetensors.torch import save_file
    from models.networks import HintFlowNet
    from networks_golden import capture_outputs, filled, load_golden
    torch.set_num_threads(2)
    network = filled(HintFlowNet, "spadeunet")
    captured, _ = capture_outputs(network, {names!r})
    with torch.no_grad():
        captured["output"] = network(load_golden("spadeunet_set_a")["input"])
    save_file({{k: v.contiguous() for k, v in captured.items()}}, sys.argv[1])
    """
)


@pytest.fixture(scope="module")
def network():
    return filled(HintFlowNet, OFFICIAL)


def _expected(name: str) -> torch.Tensor:
    intermediates = load_golden(f"{OFFICIAL}_set_a_intermediates")
    return intermediates["inter.dconv8_pre_tanh" if name == "dconv8" else f"inter.{name}"]


def test_golden_fill_matches_the_recorded_fill(network):
    assert_matches_fill_check(network, OFFICIAL)


def test_output_and_intermediates_match_within_1e5_with_the_golden_kernels(tmp_path):
    result_path = tmp_path / "pinned.safetensors"
    repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    fixtures = os.path.join(repo_root, "tests", "fixtures")
    pythonpath = os.pathsep.join([repo_root, fixtures, os.path.dirname(os.path.abspath(__file__))])
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "PYTHONPATH": pythonpath}
    script = _PINNED_SCRIPT.format(names=INTERMEDIATES)
    done = subprocess.run(
        [sys.executable, "-c", script, str(result_path)], cwd=repo_root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = load_file(str(result_path))
    assert max_error(result["output"], load_golden(f"{OFFICIAL}_set_a")["output"]) <= ATOL
    for name in INTERMEDIATES:
        assert max_error(result[name], _expected(name)) <= ATOL, name


def test_output_and_intermediates_match_in_process(network):
    golden = load_golden(f"{OFFICIAL}_set_a")
    captured, handles = capture_outputs(network, INTERMEDIATES)
    try:
        with torch.no_grad():
            output = network(golden["input"])
    finally:
        for handle in handles:
            handle.remove()
    assert max_error(output, golden["output"]) <= kernel_tolerance(golden["output"], _expected("dconv8"))
    for name in INTERMEDIATES:
        expected = _expected(name)
        assert max_error(captured[name], expected) <= kernel_tolerance(expected), name


def test_non_square_input_and_batch(network):
    torch.manual_seed(1)
    image = torch.rand(2, 6, 256, 512) * 2 - 1
    with torch.no_grad():
        both = network(image)
        second = network(image[1:])
    assert both.shape == (2, 2, 256, 512)
    assert max_error(both[1:], second) <= kernel_tolerance(second, both)


def test_size_must_be_a_multiple_of_256(network):
    with pytest.raises(ValueError, match="multiples of 256"):
        network(torch.zeros(1, 6, 256, 320))
    with pytest.raises(ValueError, match=r"\[B, 6, H, W\]"):
        network(torch.zeros(1, 4, 256, 256))
