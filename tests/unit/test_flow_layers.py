"""The motion-layer stack: the one conversion of T2C_FLOW values, ownership of overlapping regions, refusals."""

import pytest
import torch

from models.checks import InputShapeError, InputTypeError, InputValueError
from models.flow.layers import MAX_LAYERS, FlowLayer, FlowStack, as_stack


def _layer(x: float, rows: slice, label: str, size=(6, 8), batch=1, border="behind") -> FlowLayer:
    mask = torch.zeros(batch, 1, *size)
    mask[:, :, rows] = 1.0
    flow = torch.zeros(batch, 2, *size)
    flow[:, 0] = x * mask[:, 0]
    return FlowLayer(flow=flow, mask=mask, border=border, label=label)


def test_a_plain_flow_tensor_is_a_one_layer_stack_that_combines_to_itself():
    flow = torch.zeros(2, 2, 4, 5)
    flow[:, 1, 1:3] = 1.5
    stack = as_stack(flow)
    assert len(stack.layers) == 1 and stack.batch == 2 and stack.size == (4, 5)
    assert stack.combined() is stack.layers[0].flow
    torch.testing.assert_close(stack.combined(), flow)
    assert stack.layers[0].region()[:, 0].equal((flow != 0).any(dim=1))


def test_a_stack_passes_through_unchanged():
    stack = as_stack(torch.zeros(1, 2, 3, 3))
    assert as_stack(stack) is stack


def test_where_masks_overlap_the_upper_layer_owns_the_pixel():
    lower = _layer(1.0, slice(0, 4), "Text Flow #1")
    upper = _layer(-2.0, slice(3, 6), "Text Flow #2")
    stack = FlowStack((lower,)).push(upper)
    owner = stack.owner()[0, 0]
    assert owner[:3].eq(0).all() and owner[3:].eq(1).all()
    combined = stack.combined()[0, 0]
    assert combined[:3].eq(1.0).all() and combined[3:].eq(-2.0).all()
    assert stack.combined()[0, 1].eq(0).all()


def test_pixels_no_layer_claims_are_still():
    stack = FlowStack((_layer(1.0, slice(0, 2), "a"),)).push(_layer(1.0, slice(4, 5), "b"))
    owner = stack.owner()[0, 0]
    assert owner[2:4].eq(-1).all() and owner[5:].eq(-1).all()
    assert stack.combined()[:, :, 2:4].eq(0).all()


def test_layers_of_another_size_or_batch_are_refused_naming_both_nodes():
    stack = FlowStack((_layer(1.0, slice(0, 2), "Text Flow #1", batch=2),))
    with pytest.raises(InputShapeError, match=r"Text Flow #2.*Text Flow #1"):
        stack.push(_layer(1.0, slice(0, 2), "Text Flow #2", size=(6, 9)))
    with pytest.raises(InputShapeError, match=r"Text Flow #3.*batch of 3.*Text Flow #1"):
        stack.push(_layer(1.0, slice(0, 2), "Text Flow #3", batch=3))
    assert stack.push(_layer(1.0, slice(0, 2), "one image", batch=1)).batch == 2


def test_more_than_the_maximum_layers_is_refused():
    stack = FlowStack((_layer(1.0, slice(0, 1), "0"),))
    for k in range(1, MAX_LAYERS):
        stack = stack.push(_layer(1.0, slice(0, 1), str(k)))
    with pytest.raises(InputValueError, match=f"at most {MAX_LAYERS} layers"):
        stack.push(_layer(1.0, slice(0, 1), "one too many"))


def test_a_layer_checks_its_own_fields():
    with pytest.raises(InputValueError, match="border"):
        _layer(1.0, slice(0, 1), "x", border="auto")  # auto is resolved before a layer is made
    good = _layer(1.0, slice(0, 1), "x")
    with pytest.raises(InputValueError, match="cycles"):
        FlowLayer(flow=good.flow, mask=good.mask, cycles=0, label="x")
    with pytest.raises(InputShapeError, match="does not fit"):
        FlowLayer(flow=good.flow, mask=good.mask[..., :3], label="x")


def test_anything_else_is_refused_naming_the_input():
    with pytest.raises(InputTypeError, match="Animate `flow` must be a T2C_FLOW"):
        as_stack([[0.0]], "Animate `flow`")
