"""The long passes of the models call ``on_step`` (Cancel in ComfyUI) between their steps and stop at the exception
it raises, before any frame is made (issue 13: Cancel honoured within 2 s on large inputs)."""

import pytest
import torch
from networks_golden import filled

from models.checks import check_finite_output
from models.flow.engine import flow_from_text
from models.flow.hints import gaussian_blend
from models.flow.viz import flow_preview
from models.loop import pixel_animator, sharp_loop
from models.networks import HintFlowNet, SplatVideoNet, direction_hint, predict_hint_flow, render_loop_with_network


class Stop(Exception):
    pass


def _stop_at(call: int):
    """An on_step that raises Stop at its ``call``-th call; the list counts the calls."""
    calls = []

    def on_step():
        calls.append(1)
        if len(calls) == call:
            raise Stop

    return on_step, calls


def _scene(size=24):
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, size, size, generator=generator)
    flow = torch.zeros(1, 2, size, size)
    flow[:, 0, size // 4: 3 * size // 4] = 1.5
    return image, flow


@pytest.mark.parametrize("engine", ["sharp", "classic"])
def test_loop_engines_stop_before_the_first_frame(engine):
    image, flow = _scene()
    out = torch.full((1, 12, 24, 24, 3), -1.0)
    frames = []
    render = sharp_loop.render_sharp_loop if engine == "sharp" else pixel_animator.render_loop
    on_step, _ = _stop_at(1)
    with pytest.raises(Stop):
        render(image, flow, 12, out=out, on_frame=frames.append, on_step=on_step)
    assert frames == [] and (out == -1).all()
    counting, calls = _stop_at(0)
    render(image, flow, 12, out=out, on_frame=frames.append, on_step=counting)
    assert frames == list(range(12)) and len(calls) >= 3


def test_the_sharp_loop_plan_calls_back_every_trace_step():
    _, flow = _scene()
    on_step, calls = _stop_at(0)
    sharp_loop.make_plan(flow, 30, cycles=1, on_step=on_step)
    assert len(calls) >= 2 * 30  # the forward and the backward trace, one call per step
    with pytest.raises(Stop):
        sharp_loop.make_plan(flow, 30, on_step=_stop_at(5)[0])


def test_flow_from_text_and_its_preview_stop():
    image, _ = _scene(64)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, :] = 1
    with pytest.raises(Stop):
        flow_from_text(image, mask, "a river", on_step=_stop_at(1)[0])
    flow = flow_from_text(image, mask, "a river").flow
    with pytest.raises(Stop):
        flow_preview(image, flow, on_step=_stop_at(1)[0])


def test_gaussian_blend_calls_back_after_every_chunk(monkeypatch):
    import models.flow.hints as hints

    monkeypatch.setattr(hints, "_BLEND_CHUNK_ELEMENTS", 2 * 100)  # two hints: 100 pixels a chunk
    on_step, calls = _stop_at(0)
    gaussian_blend(torch.tensor([[1.0, 1.0], [5.0, 5.0]]), torch.eye(2), 20, 30, 3.0, on_step=on_step)
    assert len(calls) == 6  # 600 pixels


def test_networks_stop_between_modules_and_leave_no_hook():
    network = filled(HintFlowNet, "spadeunet")
    image = torch.rand(1, 3, 64, 64)
    mask = torch.ones(1, 1, 64, 64)
    with pytest.raises(Stop):
        predict_hint_flow(network, image, mask, direction_hint(mask, 90.0), on_step=_stop_at(3)[0])
    assert not any(module._forward_hooks for module in network.modules())


def test_the_video_network_stops_before_the_first_frame():
    network = filled(SplatVideoNet, "spadeunet4softmaxsplating")
    image, flow = _scene(12)
    out = torch.full((1, 4, 12, 12, 3), -1.0)
    with pytest.raises(Stop):
        render_loop_with_network(network, image, flow, 4, out=out, on_step=_stop_at(2)[0])
    assert (out == -1).all() and not any(module._forward_hooks for module in network.modules())


def test_the_output_check_calls_back_after_every_chunk_of_a_video():
    video = torch.zeros(1, 5, 8, 8, 3)  # [B, T, H, W, C]: chunked by frame, not by batch item
    on_step, calls = _stop_at(0)
    check_finite_output(video, "Animate", "causes", chunk_bytes=8 * 8 * 3 * 4, on_chunk=on_step)
    assert len(calls) == 5


def test_flow_pictures_call_back_after_every_chunk_of_rows(monkeypatch):
    """An 8192² Flow Preview is many chunks, each followed by a Cancel check, not one pass of seconds."""
    import models.flow.viz as viz

    monkeypatch.setattr(viz, "CHUNK_PIXELS", 64 * 8)  # 8 rows of a 64-wide flow
    _, flow = _scene(64)
    on_step, calls = _stop_at(0)
    colour = viz.flow_to_color(flow, on_step=on_step)
    assert len(calls) >= 64 // 8
    assert torch.equal(colour, viz.flow_to_color(flow)), "the chunks make the same picture"
    on_step, calls = _stop_at(0)
    viz.draw_flow_arrows(colour, flow, on_step=on_step)
    assert len(calls) >= 3 * 64 // 8  # the speeds, the canvas and back
    with pytest.raises(Stop):
        viz.flow_to_color(flow, on_step=_stop_at(2)[0])
