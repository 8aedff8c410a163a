"""Nothing wrong is reported as success (issue 13, item 3): NaN/inf from any engine is an error naming the cause;
speed and flow are bounded below the point where the pixel engine's importance overflows."""

import sys
from types import SimpleNamespace

import pytest
import torch


def _image(h=16, w=16):
    return torch.rand(1, h, w, 3, generator=torch.Generator().manual_seed(0))


def _animate(nodes, **kwargs):
    args = dict(image=_image(), flow=torch.ones(1, 2, 16, 16), frames=4, speed=1.0, max_px_per_frame=0.0,
                integration="round")
    args.update(kwargs)
    return nodes["T2C_Animate"].execute(**args).result[0]


@pytest.mark.parametrize("speed", [float("nan"), float("inf"), -1.0])
def test_a_bad_speed_names_speed_not_the_flow(t2c_nodes, speed):
    with pytest.raises(ValueError, match="`speed`"):
        _animate(t2c_nodes, speed=speed)


@pytest.mark.parametrize("flow_value,speed", [(1e19, 1.0), (2e19, 1.0), (1e10, 10.0), (3e38, 1.0)])
def test_a_flow_past_overflow_is_refused_not_animated_into_nan(t2c_nodes, flow_value, speed):
    with pytest.raises(ValueError, match="lower `speed`"):
        _animate(t2c_nodes, flow=torch.full((1, 2, 16, 16), flow_value), speed=speed)


def test_the_largest_allowed_motion_still_gives_finite_frames(t2c_nodes):
    frames = _animate(t2c_nodes, flow=torch.full((1, 2, 16, 16), 1e6))
    assert torch.isfinite(frames).all()


class _NanVideoModel:
    """A video model whose (broken) weights give NaN, frame 0 included."""

    def render_loop(self, picture, motion, frames, out, on_frame, on_step):
        out.fill_(float("nan"))


def test_nan_frames_from_the_video_model_are_an_error_naming_the_weights(t2c_nodes):
    with pytest.raises(ValueError, match="Animate Cinemagraph produced NaN.*video model's weights"):
        _animate(t2c_nodes, video_model=_NanVideoModel())


def test_nan_flow_from_a_flow_network_is_an_error_naming_the_file(t2c_nodes, monkeypatch):
    pack_networks = sys.modules[t2c_nodes["T2C_TextFlow"].__module__].networks
    monkeypatch.setattr(pack_networks, "predict_hint_flow",
                        lambda network, picture, region, hint, on_step: torch.full((1, 2, 16, 16), float("nan")))
    model = SimpleNamespace(kind="hint_flow", filename="broken.pth", network=lambda: None)
    with pytest.raises(ValueError, match="Text Flow produced NaN.*broken.pth"):
        t2c_nodes["T2C_TextFlow"].execute(image=_image(), mask=torch.ones(1, 16, 16), text="waterfall",
                                          direction="auto (from text)", angle=270.0, strength=0.0, seed=0,
                                          arrows="", hint_px_per_frame=64.0, flow_model=model)


def _text_flow(nodes, **kwargs):
    args = dict(image=_image(), mask=torch.ones(1, 16, 16), text="", direction="auto (from text)", angle=270.0,
                strength=0.0, seed=0, arrows="", hint_px_per_frame=64.0)
    args.update(kwargs)
    return nodes["T2C_TextFlow"].execute(**args)


def test_messages_name_the_user_facing_input(t2c_nodes):
    nan_image = _image() * float("nan")
    with pytest.raises(ValueError, match="Text Flow `image` contains NaN"):
        _text_flow(t2c_nodes, image=nan_image)
    with pytest.raises(ValueError, match="Text Flow `angle`"):
        _text_flow(t2c_nodes, direction="custom angle", angle=float("nan"))
    with pytest.raises(ValueError, match="Flow Preview `image` contains NaN"):
        t2c_nodes["T2C_FlowPreview"].execute(flow=torch.ones(1, 2, 16, 16), arrows=True, max_px_per_frame=0.0,
                                             image=nan_image)
    with pytest.raises(ValueError, match="Animate `image` contains NaN"):
        _animate(t2c_nodes, image=nan_image, video_model=_NanVideoModel())  # checked before any engine runs
    with pytest.raises(ValueError, match="3 masks for 1 images"):
        _animate(t2c_nodes, mask=torch.ones(3, 16, 16))
