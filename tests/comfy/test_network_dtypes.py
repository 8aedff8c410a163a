"""The official networks on comfy.ops: fp32 computes exactly as plain torch, weights stored in fp16/bf16 (manual
cast) within the tolerance stated in tests/fixtures/network_dtypes.py, and the loaders' dtype choice. The whole
network in fp16/bf16 is a plain-torch numerical check (tests/unit/test_networks_half_precision.py): on
``disable_weight_init`` the layers compute as plain torch, which the first test here checks per ComfyUI version.
"""

import comfy.model_management
import comfy.ops
import folder_paths
import pytest
import torch
from network_dtypes import LOW, NETWORKS, assert_within_tolerance, build, forward, fp32_reference, network_inputs
from safetensors.torch import save_file

from golden_fill import golden_fill_
from models.networks import HintFlowNet, SplatVideoNet


@pytest.fixture(scope="module", params=NETWORKS, ids=lambda c: c.__name__)
def reference(request):
    """(class, inputs, fp32 output of the plain torch.nn network — the one golden conformance checks)."""
    return fp32_reference(request.param)


def test_fp32_on_comfy_ops_is_the_plain_torch_network(reference):
    """Golden conformance carries over: disable_weight_init / manual_cast in fp32 compute exactly the same."""
    network_class, inputs, expected = reference
    for operations in (comfy.ops.disable_weight_init, comfy.ops.manual_cast):
        network = build(network_class, operations)
        if network_class is not SplatVideoNet:
            assert any(isinstance(m, operations.Conv2d) for m in network.modules())
        assert torch.equal(forward(network, inputs), expected)


@pytest.mark.parametrize("name", ["bf16", "fp16"])
def test_weights_stored_in_half_precision_compute_in_fp32_with_manual_cast(reference, name):
    """What the loader does on a CPU for dtype fp16/bf16: weights in that dtype, computed in fp32."""
    network_class, inputs, expected = reference
    network = build(network_class, comfy.ops.manual_cast).to(LOW[name])
    network.compute_dtype = torch.float32
    assert next(network.parameters()).dtype == LOW[name]
    assert_within_tolerance(forward(network, inputs), expected, LOW[name], f"{network_class.__name__} {name} weights")


# ---- the loader nodes ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("t2c-dtype-models")
    torch.save(golden_fill_(HintFlowNet()).state_dict(), root / "hint.pth")
    save_file({k: v.contiguous() for k, v in golden_fill_(SplatVideoNet()).state_dict().items()},
              str(root / "video.safetensors"))
    return root


@pytest.fixture()
def model_folder(weights_dir, monkeypatch):
    monkeypatch.setitem(folder_paths.folder_names_and_paths, "text2cinemagraph",
                        ([str(weights_dir)], {".safetensors", ".pth"}))
    monkeypatch.setattr(folder_paths, "filename_list_cache", {})
    return weights_dir


def _network(nodes, node_id, weights, **dtype):
    return nodes[node_id].execute(weights=weights, **dtype).result[0].network()


def test_dtype_input_is_optional_with_auto_default(t2c_nodes):
    for node_id in ("T2C_FlowModelLoader", "T2C_VideoModelLoader"):
        inputs = t2c_nodes[node_id].INPUT_TYPES()
        assert "dtype" in inputs["optional"] and "dtype" not in inputs["required"]
        kind, spec = inputs["optional"]["dtype"]
        options = spec.get("options", kind)  # V3 writes ("COMBO", {"options": …}), V1 (options, {…})
        assert options == ["auto", "fp32", "fp16", "bf16"] and spec["default"] == "auto"


@pytest.mark.parametrize(("node_id", "weights"), [("T2C_FlowModelLoader", "hint.pth"),
                                                  ("T2C_VideoModelLoader", "video.safetensors")])
def test_auto_on_the_cpu_is_fp32_on_comfy_ops_and_old_workflows_load(t2c_nodes, model_folder, node_id, weights):
    assert comfy.model_management.get_torch_device().type == "cpu"
    for kwargs in ({}, {"dtype": "auto"}):  # {}: a workflow or API prompt saved before the input existed
        network = _network(t2c_nodes, node_id, weights, **kwargs)
        assert {p.dtype for p in network.parameters()} == {torch.float32} and network.dtype == torch.float32
        convs = [m for m in network.modules() if isinstance(m, torch.nn.Conv2d)]
        assert all(isinstance(m, comfy.ops.disable_weight_init.Conv2d) for m in convs)


@pytest.mark.parametrize("name", ["bf16", "fp16"])
def test_explicit_half_precision_is_stored_so_and_computes_as_comfyui_decides(t2c_nodes, model_folder, name):
    network = _network(t2c_nodes, "T2C_FlowModelLoader", "hint.pth", dtype=name)
    assert {p.dtype for p in network.parameters()} == {LOW[name]}
    # on a CPU model_management computes fp16/bf16 weights in fp32 (manual cast)
    assert network.dtype == torch.float32
    convs = [m for m in network.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(isinstance(m, comfy.ops.manual_cast.Conv2d) for m in convs)
    reference = _network(t2c_nodes, "T2C_FlowModelLoader", "hint.pth", dtype="fp32")
    inputs = network_inputs(HintFlowNet)
    assert_within_tolerance(forward(network, inputs), forward(reference, inputs), LOW[name], f"loader {name}")


def test_a_dtype_the_device_cannot_run_names_the_input_and_the_fix(t2c_nodes, model_folder, monkeypatch):
    from text2cinemagraph.nodes import loaders

    monkeypatch.setattr(loaders, "pick_dtypes", lambda choice, device, n=0: (torch.float16, torch.float16))
    real_conv2d = loaders.F.conv2d

    def conv2d_without_half(x, *args, **kwargs):
        if x.dtype == torch.float16:
            raise RuntimeError('"slow_conv2d_cpu" not implemented for \'Half\'')
        return real_conv2d(x, *args, **kwargs)

    monkeypatch.setattr(loaders.F, "conv2d", conv2d_without_half)
    with pytest.raises(ValueError, match=r"Load Video Model: dtype fp16 .*does not run on this device \(cpu\).*"
                                         r"Set the node's dtype input to auto .* or fp32"):
        t2c_nodes["T2C_VideoModelLoader"].execute(weights="video.safetensors", dtype="fp16")
