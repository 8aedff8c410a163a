"""State-dict layout of the three generators = the official one (keys, order, shapes, dtypes, counts)."""

import pytest
import torch
from networks_golden import manifest

from models.networks import HintFlowNet, SplatVideoNet, TextFlowNet

NETWORKS = [(TextFlowNet, "spadexattnunetsd"), (HintFlowNet, "spadeunet"), (SplatVideoNet, "spadeunet4softmaxsplating")]


@pytest.mark.parametrize(("network_class", "official"), NETWORKS)
def test_state_dict_equals_the_manifest_in_order(network_class, official):
    with torch.device("meta"):
        network = network_class()  # no arguments: the official inference configuration
    expected = manifest(official)
    entries = [
        [key, list(value.shape), str(value.dtype).removeprefix("torch.")] for key, value in network.state_dict().items()
    ]
    assert entries == expected["entries"]
    parameters = sum(p.numel() for p in network.parameters())
    persistent_buffers = sum(v.numel() for v in network.state_dict().values()) - parameters
    assert parameters == expected["total_parameter_count"]
    assert persistent_buffers == expected["total_buffer_elements"]


@pytest.mark.parametrize(("network_class", "official"), NETWORKS)
def test_networks_are_inference_only(network_class, official):
    with torch.device("meta"):
        network = network_class()
    assert not network.training and not any(module.training for module in network.modules())
    with pytest.raises(RuntimeError, match="inference-only"):
        network.train()
    assert network.eval() is network
