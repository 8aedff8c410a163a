"""Official pre/post-processing around the networks (models.networks.inference; docs/pipeline.md#4-flow)."""

import math

import pytest
import torch
import torch.nn.functional as F
from networks_golden import filled, kernel_tolerance, load_golden
from torch import nn

from models.networks import (
    MOTION_NORM,
    HintFlowNet,
    SplatVideoNet,
    TextFlowNet,
    direction_hint,
    predict_hint_flow,
    predict_text_flow,
    render_loop_with_network,
)
from models.networks.inference import nearest_valid_size

pytestmark = pytest.mark.numerics  # .ci/run reruns these under other CPU kernels


class _ConstantTextNet(TextFlowNet):
    """Stands in for A (320M parameters): records its inputs and answers tanh-range (0.25, −0.5)."""

    def __init__(self) -> None:
        nn.Module.__init__(self)
        self.anchor = nn.Parameter(torch.zeros(1))
        self.calls = []

    def forward(self, input, context):
        self.calls.append((input, context))
        out = torch.empty(input.shape[0], 2, *input.shape[-2:])
        out[:, 0], out[:, 1] = 0.25, -0.5
        return out


@pytest.fixture(scope="module")
def video_network():
    return filled(SplatVideoNet, "spadeunet4softmaxsplating")


def test_nearest_valid_size():
    assert nearest_valid_size(512, 512, 64) == (512, 512)
    assert nearest_valid_size(100, 150, 64) == (128, 128)
    assert nearest_valid_size(20, 700, 64) == (64, 704)
    assert nearest_valid_size(300, 700, 256) == (256, 768)


def test_text_flow_pre_and_post_processing():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 64, 128, generator=generator)
    mask = torch.rand(2, 1, 64, 128, generator=generator)
    context = torch.randn(1, 77, 768, generator=generator)
    network = _ConstantTextNet()
    flow = predict_text_flow(network, image, mask, context)
    net_input, net_context = network.calls[0]
    assert torch.equal(net_input[:, :3], (image - 0.5) * 2)  # official normalisation, no resize needed
    assert torch.equal(net_input[:, 3:], (mask > 0.5).float())
    assert net_context.shape == (2, 77, 768) and torch.equal(net_context[1], context[0])
    inside = (mask > 0.5).expand(-1, 2, -1, -1)
    expected = torch.tensor([0.25, -0.5]).view(1, 2, 1, 1) * MOTION_NORM
    assert torch.equal(flow[inside], expected.expand_as(flow)[inside])  # px/frame
    assert not flow[~inside].any()


def test_text_flow_resizes_to_a_multiple_of_64_and_maps_vectors_back():
    image = torch.rand(1, 3, 100, 150)
    mask = torch.zeros(1, 1, 100, 150)
    mask[..., 20:80, 30:120] = 1
    network = _ConstantTextNet()
    flow = predict_text_flow(network, image, mask, torch.zeros(1, 77, 768))
    net_input = network.calls[0][0]
    assert net_input.shape == (1, 4, 128, 128)
    assert net_input[:, :3].min() >= -1 and net_input[:, :3].max() <= 1
    assert set(net_input[:, 3].unique().tolist()) == {0.0, 1.0}
    assert flow.shape == (1, 2, 100, 150)
    # 16 px on the 128-wide grid is 16·150/128 px on the 150-wide image (−32 px likewise in y)
    assert torch.allclose(flow[0, :, 50, 60], torch.tensor([16 * 150 / 128, -32 * 100 / 128]))
    assert not flow[..., :20, :].any()


def test_text_flow_input_errors():
    network, image, mask = _ConstantTextNet(), torch.rand(1, 3, 64, 64), torch.ones(1, 1, 64, 64)
    with pytest.raises(ValueError, match=r"\[B, 77, 768\]"):
        predict_text_flow(network, image, mask, torch.zeros(1, 77, 1024))
    with pytest.raises(ValueError, match="mask must have shape .* matching the image"):
        predict_text_flow(network, image, torch.ones(1, 1, 32, 64), torch.zeros(1, 77, 768))
    with pytest.raises(ValueError, match="NaN"):
        predict_text_flow(network, image * float("nan"), mask, torch.zeros(1, 77, 768))
    with pytest.raises(TypeError, match="TextFlowNet"):
        predict_text_flow(nn.Identity(), image, mask, torch.zeros(1, 77, 768))


def test_non_finite_text_context_and_network_output_are_named():
    network, image, mask = _ConstantTextNet(), torch.rand(1, 3, 64, 64), torch.ones(1, 1, 64, 64)
    context = torch.zeros(1, 77, 768)
    context[0, 3, 5] = float("nan")
    with pytest.raises(ValueError, match="CLIP text encoder produced invalid values"):
        predict_text_flow(network, image, mask, context)

    class _Overflowing(_ConstantTextNet):
        def forward(self, input, context):
            return super().forward(input, context) * float("inf")

    with pytest.raises(ValueError, match="flow network produced NaN/inf"):
        predict_text_flow(_Overflowing(), image, mask, torch.zeros(1, 77, 768))


def test_hint_flow_reproduces_the_official_directional_inference():
    """Golden B input = official hint (unit vector on the mask); our wrappers must rebuild it exactly."""
    golden = load_golden("spadeunet_set_a")
    net_input = golden["input"]
    image, mask = (net_input[:, :3] + 1) / 2, net_input[:, 3:4]
    theta = math.atan2(-net_input[0, 5][mask[0, 0] > 0][0].item(), net_input[0, 4][mask[0, 0] > 0][0].item())
    hint = direction_hint(mask, math.degrees(theta))
    torch.testing.assert_close(hint / MOTION_NORM, net_input[:, 4:6], atol=1e-6, rtol=0)
    network = filled(HintFlowNet, "spadeunet")
    flow = predict_hint_flow(network, image, mask, hint)
    expected = golden["output"] * MOTION_NORM * mask
    # This CPU's kernels, not the golden run's: float32 roundings of the pre-tanh magnitude, in px (× 64).
    pre_tanh = load_golden("spadeunet_set_a_intermediates")["inter.dconv8_pre_tanh"]
    assert (flow - expected).abs().max() <= kernel_tolerance(golden["output"], pre_tanh) * MOTION_NORM


def test_direction_hint():
    mask = torch.zeros(2, 1, 8, 8)
    mask[0, :, 2:6, 2:6] = 1
    mask[1, :, 0, :4] = 1  # only 4 pixels: no hint, as in the official code
    up = direction_hint(mask, 90.0)
    torch.testing.assert_close(up[0, :, 3, 3], torch.tensor([0.0, -64.0]), atol=1e-5, rtol=0)
    assert not up[0, :, 0, 0].any() and not up[1].any()
    slow = direction_hint(mask[:1], 180.0, px_per_frame=2.0)  # in the training range
    torch.testing.assert_close(slow[0, :, 3, 3], torch.tensor([-2.0, 0.0]), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="px_per_frame"):
        direction_hint(mask, 0.0, px_per_frame=-1.0)
    with pytest.raises(ValueError, match="angle_deg"):
        direction_hint(mask, float("inf"))


def _official_frames(network, image, flow, n_frames):
    """The official per-frame calls on the image padded to a multiple of 4, cropped back, as 0..1 images."""
    height, width = image.shape[-2:]
    pad = (0, -width % 4, 0, -height % 4)
    rgb = F.pad((image - 0.5) * 2, pad, mode="replicate")
    x = torch.cat((rgb, rgb, F.pad(flow, pad)), dim=1)
    with torch.no_grad():
        frames = [network(x, (0, i, n_frames - 1))[..., :height, :width] for i in range(n_frames)]
    return ((torch.stack(frames, dim=1) + 1) / 2).clamp(0, 1).permute(0, 1, 3, 4, 2)


def test_loop_matches_the_official_per_frame_calls_on_any_size(video_network):
    generator = torch.Generator().manual_seed(2)
    image = torch.rand(1, 3, 18, 22, generator=generator)
    flow = F.avg_pool2d(torch.randn(1, 2, 18, 22, generator=generator), 5, 1, 2) * 4
    frames = render_loop_with_network(video_network, image, flow, 5)
    assert frames.shape == (1, 5, 18, 22, 3) and frames.dtype == torch.float32
    assert torch.equal(frames, _official_frames(video_network, image, flow, 5))


def test_loop_streams_into_out_and_on_frame_can_cancel(video_network):
    image, flow = torch.rand(2, 3, 12, 16), torch.full((1, 2, 12, 16), 0.5)
    out = torch.full((2, 4, 12, 16, 3), -1.0)
    seen = []

    def on_frame(i):
        assert (out[:, i] >= 0).all()  # frame i is written before the callback
        assert (out[:, i + 1 :] == -1).all()
        seen.append(i)

    assert render_loop_with_network(video_network, image, flow, 4, out=out, on_frame=on_frame) is out
    assert seen == [0, 1, 2, 3]

    def cancel(i):
        if i == 1:
            raise InterruptedError("cancelled")

    out.fill_(-1.0)
    with pytest.raises(InterruptedError, match="cancelled"):
        render_loop_with_network(video_network, image, flow, 4, out=out, on_frame=cancel)
    assert (out[:, 2:] == -1).all()


def test_loop_input_errors(video_network):
    image, flow = torch.rand(1, 3, 8, 8), torch.zeros(1, 2, 8, 8)
    with pytest.raises(ValueError, match="out must be a float32 tensor"):
        render_loop_with_network(video_network, image, flow, 3, out=torch.empty(1, 3, 8, 8, 4))
    with pytest.raises(ValueError, match="resize it first"):
        render_loop_with_network(video_network, image, torch.zeros(1, 2, 4, 8), 3)
    with pytest.raises(ValueError, match="n_frames"):
        render_loop_with_network(video_network, image, flow, 0)
    with pytest.raises(TypeError, match="SplatVideoNet"):
        render_loop_with_network(nn.Identity(), image, flow, 3)
    with pytest.raises(TypeError, match="on_frame"):
        render_loop_with_network(video_network, image, flow, 3, on_frame=5)
