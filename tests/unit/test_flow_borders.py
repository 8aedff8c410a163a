"""Border shaping of a motion layer: stick is the old fade, slip keeps motion along the border, auto resolves."""

import pytest
import torch

from models.checks import InputValueError
from models.flow.borders import shape_border
from models.flow.engine import flow_from_text


def _band(flow_xy=(2.0, 0.0), rows=slice(20, 44), size=(64, 96)):
    mask = torch.zeros(1, 1, *size)
    mask[..., rows, :] = 1.0
    flow = torch.zeros(1, 2, *size)
    flow[:, 0], flow[:, 1] = flow_xy[0] * mask[:, 0], flow_xy[1] * mask[:, 0]
    return flow, mask


def test_slip_in_a_straight_channel_keeps_the_speed_along_it_everywhere_across_it():
    flow, mask = _band((2.0, 0.6))
    shaped = shape_border(flow, mask, "slip")
    assert shaped.border == "slip" and shaped.note == ""
    along, across = shaped.flow[0, 0, 20:44], shaped.flow[0, 1, 20:44]
    assert along.eq(2.0).all()  # no shear: every row of the channel moves along it at the same speed
    # the motion across the channel fades towards the shores exactly as stick fades all of it
    stick = shape_border(flow, mask, "stick").flow[0, 1, 20:44]
    torch.testing.assert_close(across, stick, rtol=1e-6, atol=1e-7)
    assert across[12].eq(0.6).all() and across[0].max() < 0.6 / 2
    assert shaped.flow[:, :, :20].eq(0).all() and shaped.flow[:, :, 44:].eq(0).all()


def test_stick_fades_the_whole_speed_and_behind_keeps_it():
    flow, mask = _band((2.0, 0.0))
    stick = shape_border(flow, mask, "stick").flow[0, 0, 20:44, 50]
    assert stick[0] < 1.0 and stick[12] == 2.0 and (stick[:12].diff() >= 0).all()
    behind = shape_border(flow, mask, "behind")
    assert behind.border == "behind" and behind.flow is flow


@pytest.mark.parametrize("kwargs", [{"text": "a river"}, {"direction_angle": 30.0},
                                    {"hints": '{"arrows": [[0.2, 0.5, 0.6, 0.5]], "anchors": [[0.5, 0.3]]}'}])
def test_stick_through_the_layer_path_equals_the_default_flow_bit_for_bit(kwargs):
    image = torch.rand(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(2, 1, 96, 128)
    mask[0, :, 20:70, 10:120] = 1
    mask[1, :, 40:60, :] = 1
    default = flow_from_text(image, mask, **kwargs).flow
    raw = flow_from_text(image, mask, border_fade=False, **kwargs).flow
    assert not torch.equal(raw, default)
    assert torch.equal(shape_border(raw, mask, "stick").flow, default)


def test_auto_slips_along_a_channel_and_passes_behind_a_still_block():
    channel = shape_border(*_band((2.0, 0.0)), "auto")
    assert channel.border == "slip" and "slip" in channel.note and "0%" in channel.note
    flow, mask = _band((2.0, 0.3))  # 8.5° off the channel's axis, as the flow engine's wobble turns it
    mask[..., :, 70:] = 0  # the band now ends at a still block on the right, and the flow runs into it
    flow = flow * mask
    into = shape_border(flow, mask, "auto")
    assert into.border == "behind" and "behind" in into.note
    assert into.flow[0, 0].equal(flow[0, 0])  # full speed along the band and into the block
    shores = into.flow[0, 1, [20, 43], 10:50]
    assert shores.abs().max() < 0.3 / 2  # along its shores it slips: it does not drift across them
    assert into.flow[0, 1, 32, 10:50].eq(0.3).all()


def test_a_smaller_mask_is_resized_and_a_wrong_border_refused():
    flow, mask = _band((1.0, 0.5))
    small = mask[..., ::2, ::2]
    assert shape_border(flow, small, "slip").flow.shape == flow.shape
    with pytest.raises(InputValueError, match="border must be one of"):
        shape_border(flow, mask, "sideways")


def test_auto_lets_a_fanning_flow_slip_even_where_it_crosses_its_border():
    size = 48
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    mask = (((xs - 23.5) ** 2 + (ys - 23.5) ** 2) < 18**2).float()[None, None]
    flow = torch.stack((xs - 23.5, ys - 23.5)).unsqueeze(0) * 0.05 * mask  # spreads out through its whole border
    fanning = shape_border(flow, mask, "auto")
    assert fanning.border == "slip" and "spreads out" in fanning.note
