"""The official networks computed entirely in fp16/bf16 (what a GPU fast at half precision runs) stay within the
tolerance stated in tests/fixtures/network_dtypes.py of the fp32 network.

Plain torch.nn layers: the loader's half-precision networks run on ``comfy.ops.disable_weight_init``, whose layers
compute exactly as plain torch (tests/comfy/test_network_dtypes.py checks that on each ComfyUI version), so this
numerical check runs once, here, not once per ComfyUI version. On a CPU without native half-precision convolutions
this is the slowest unit test (about 30 s per HintFlowNet case).
"""

import pytest
import torch
from network_dtypes import LOW, NETWORKS, assert_within_tolerance, build, forward, fp32_reference

from models.networks import TextFlowNet


@pytest.fixture(scope="module", params=NETWORKS, ids=lambda c: c.__name__)
def reference(request):
    """(class, inputs, fp32 output of the plain torch.nn network — the one golden conformance checks)."""
    return fp32_reference(request.param)


@pytest.mark.parametrize("name", ["bf16", "fp16"])
def test_whole_network_in_half_precision(reference, name):
    network_class, inputs, expected = reference
    network = build(network_class).to(LOW[name])
    assert network.dtype == LOW[name]
    assert_within_tolerance(forward(network, inputs), expected, LOW[name], f"{network_class.__name__} {name}")


def test_the_fp16_bound_catches_one_conv_one_percent_off():
    """The bound sees a real defect: TextFlowNet's first conv 1 % off moves its output by about 2.7 % of max|out|,
    over the fp16 bound of 16 · 2⁻¹⁰ ≈ 1.6 % (so a half-precision path that drops or mis-casts a layer fails)."""
    _, inputs, expected = fp32_reference(TextFlowNet)
    broken = build(TextFlowNet)
    first_conv = next(m for m in broken.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.weight.data.mul_(1.01)
    with pytest.raises(AssertionError, match="max error"):
        assert_within_tolerance(forward(broken, inputs), expected, LOW["fp16"], "one conv 1 % off")
