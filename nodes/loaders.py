"""Loader nodes for the official networks, held through ComfyUI's ModelPatcher (nodes/holders.py) so
model_management loads and offloads them like any other model.

The networks are built from ``comfy.ops`` layers, as every model ComfyUI loads: ``disable_weight_init`` (no
random init of weights that are loaded anyway) when they compute in their storage dtype, ``manual_cast`` when
model_management keeps the weights in one dtype and computes in another. The ``dtype`` input picks the storage
dtype: ``auto`` asks ``comfy.model_management`` for this device (fp32 on a CPU; bf16 before fp16 on a GPU, as
bf16 has fp32's range); fp32/fp16/bf16 force one. The compute dtype is model_management's manual-cast choice
for that storage dtype on the device (fp16/bf16 weights compute in fp32 on a CPU); a device that cannot run the
networks' operations in it is refused with a message naming the ``dtype`` input and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass

import comfy.model_management
import comfy.model_patcher
import comfy.ops
import folder_paths
import torch
import torch.nn.functional as F
from comfy_api.latest import io

from ..models import networks
from ..models.checks import InputTypeError, InputValueError
from .holders import model_patcher, on_device
from .paths import MODEL_FOLDER
from .types import CATEGORY, FlowModel, VideoModel

_KIND_OF = {network_class: kind for kind, network_class in networks.NETWORKS.items()}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DTYPE_OPTIONS = ["auto", *DTYPES]
# Preference for "auto" where the device runs half precision: bf16 keeps fp32's exponent range.
SUPPORTED_DTYPES = [torch.bfloat16, torch.float16, torch.float32]


@dataclass
class LoadedNetwork:
    """What travels on a T2C_FLOW_MODEL / T2C_VIDEO_MODEL socket."""

    patcher: comfy.model_patcher.ModelPatcher
    kind: str
    filename: str

    def network(self):
        """The module on the compute device (ComfyUI evicts other models first if memory is short)."""
        return on_device(self.patcher)

    def render_loop(self, image, flow, n_frames, *, out=None, on_frame=None, on_step=None):
        return networks.render_loop_with_network(self.network(), image, flow, n_frames, out=out, on_frame=on_frame,
                                                 on_step=on_step)


def pick_dtypes(choice: str, device: torch.device, n_params: int = 0) -> tuple[torch.dtype, torch.dtype]:
    """(storage dtype, compute dtype) for the ``dtype`` input on ``device``, decided as model_management decides
    them for a diffusion model: ``auto`` = ``unet_dtype`` for the device; the compute dtype is then
    ``unet_manual_cast``'s (e.g. fp16 weights on a CPU compute in fp32), or the storage dtype itself."""
    if choice == "auto":
        weight_dtype = comfy.model_management.unet_dtype(device, n_params, supported_dtypes=SUPPORTED_DTYPES)
        if weight_dtype not in DTYPES.values():  # e.g. an fp8 --*-unet flag: these networks take float types only
            weight_dtype = torch.float32
    elif choice in DTYPES:
        weight_dtype = DTYPES[choice]
    else:
        raise InputValueError(f"dtype must be one of {DTYPE_OPTIONS}, got {choice!r}")
    compute = comfy.model_management.unet_manual_cast(weight_dtype, device, SUPPORTED_DTYPES)
    return weight_dtype, compute or weight_dtype


def check_dtype_runs(dtype: torch.dtype, device: torch.device, node: str, choice: str) -> None:
    """Run each kind of operation the networks use, tiny, in ``dtype`` on ``device``; a clear error if one fails."""
    if dtype == torch.float32:
        return
    try:
        x = torch.ones(1, 4, 8, 8, device=device, dtype=dtype)
        F.conv2d(x, torch.ones(4, 4, 3, 3, device=device, dtype=dtype), padding=1)
        F.conv2d(x, torch.ones(4, 4, 4, 4, device=device, dtype=dtype), stride=2, padding=1)
        F.group_norm(x, 2)
        F.instance_norm(x)
        F.batch_norm(x, torch.zeros(4, device=device, dtype=dtype), torch.ones(4, device=device, dtype=dtype))
        F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        F.avg_pool2d(x, 3, 2, 1)
        F.max_pool2d(x, 3, 2, 1)
        tokens = x.flatten(2).transpose(1, 2)
        F.layer_norm(tokens, (4,))
        F.gelu(F.linear(tokens, torch.ones(8, 4, device=device, dtype=dtype)))
        q = tokens.view(1, 64, 2, 2).transpose(1, 2)
        F.scaled_dot_product_attention(q, q, q)
    except (RuntimeError, NotImplementedError, TypeError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputValueError(
            f"{node}: dtype {choice} ({dtype}) does not run on this device ({device}): {detail}. Set the node's "
            f"dtype input to auto (what ComfyUI picks for {device.type}) or fp32."
        ) from error


def _load(filename: str, kinds: tuple[str, ...], dtype: str, node: str) -> LoadedNetwork:
    if not isinstance(filename, str):
        raise InputTypeError(f"{node}: `weights` must be a file name from models/{MODEL_FOLDER}/ (a string), got "
                             f"{type(filename).__name__}: pick a file in the node's list")
    path = folder_paths.get_full_path_or_raise(MODEL_FOLDER, filename)
    load_device = comfy.model_management.get_torch_device()
    weight_dtype, compute_dtype = pick_dtypes(dtype, load_device)
    check_dtype_runs(compute_dtype, load_device, node, dtype)
    operations = comfy.ops.disable_weight_init if compute_dtype == weight_dtype else comfy.ops.manual_cast
    module = networks.load_network(path, expect=kinds, operations=operations)
    if weight_dtype != torch.float32:
        module = module.to(weight_dtype)
    module.compute_dtype = compute_dtype
    return LoadedNetwork(model_patcher(module), _KIND_OF[type(module)], filename)


def _weights_input() -> io.Combo.Input:
    return io.Combo.Input("weights", options=folder_paths.get_filename_list(MODEL_FOLDER),
                          tooltip=f"A file in ComfyUI/models/{MODEL_FOLDER}/ (.pth or .safetensors), e.g. "
                                  "motion-pretrained/latest_net_G.pth from the official checkpoints.tar.")


def _dtype_input() -> io.Combo.Input:
    # Optional, so API prompts and workflows saved before this input existed still validate and run (auto).
    return io.Combo.Input("dtype", options=DTYPE_OPTIONS, default="auto", optional=True,
                          tooltip="Precision the network runs in. auto: what ComfyUI picks for the device (fp32 on "
                                  "a CPU, half precision on a GPU that is fast at it). fp16/bf16 halve the memory; "
                                  "fp32 is the reference.")


class FlowModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="T2C_FlowModelLoader",
            display_name="Load Flow Model",
            category=CATEGORY,
            description="Loads an official flow network: the text-conditioned one (motion-pretrained, needs "
                        "an SD1.x conditioning) or the direction-hint one (motion-direction-pretrained). "
                        "Which one a file holds is detected from its weights.",
            inputs=[_weights_input(), _dtype_input()],
            outputs=[FlowModel.Output(display_name="flow_model")],
        )

    @classmethod
    def execute(cls, weights, dtype="auto") -> io.NodeOutput:
        return io.NodeOutput(_load(weights, ("text_flow", "hint_flow"), dtype, "Load Flow Model"))


class VideoModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="T2C_VideoModelLoader",
            display_name="Load Video Model",
            category=CATEGORY,
            description="Loads the official softmax-splatting video network (video-pretrained) for Animate "
                        "Cinemagraph. It renders 512-ish images; the pixel engine needs no weights at all.",
            inputs=[_weights_input(), _dtype_input()],
            outputs=[VideoModel.Output(display_name="video_model")],
        )

    @classmethod
    def execute(cls, weights, dtype="auto") -> io.NodeOutput:
        return io.NodeOutput(_load(weights, ("splat_video",), dtype, "Load Video Model"))
