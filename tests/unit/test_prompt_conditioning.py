"""One home for reading a CONDITIONING (models/prompt/conditioning.py): what Text Flow and the twin sampler accept."""

import pytest
import torch

from models.checks import InputShapeError, InputTypeError, InputValueError
from models.prompt.conditioning import prompt_embeddings


def _read(conditioning, dim=768):
    return prompt_embeddings(conditioning, "Text Flow `conditioning`", dim, "the text flow network")


@pytest.mark.parametrize(("batch", "tokens"), [(1, 77), (2, 154)])
def test_one_prompt_gives_its_embeddings_unchanged(batch, tokens):
    context = torch.randn(batch, tokens, 768)
    assert _read([[context, {"pooled_output": torch.zeros(1, 768)}]]) is context


@pytest.mark.parametrize(
    ("conditioning", "error", "problem"),
    [
        (None, InputValueError, "Text Flow `conditioning` is empty: connect a CLIPTextEncode"),
        ([], InputValueError, "is empty"),
        ([[torch.zeros(1, 77, 768), {}]] * 2, InputValueError,
         "holds 2 combined conditionings; the text flow network needs one prompt per input"),
        ([torch.zeros(1, 77, 768)], InputTypeError, r"not a CONDITIONING \(\[\[embeddings, options\]\]\)"),
        ([[torch.zeros(1, 77, 1024), {}]], InputShapeError,
         r"SD1.x text embeddings \[B, 77·k, 768\], got \[1, 77, 1024\]"),
        ([[torch.zeros(1, 76, 768), {}]], InputShapeError, r"77·k"),
        ([[torch.zeros(77, 768), {}]], InputShapeError, r"77·k"),
        ([["a prompt", {}]], InputShapeError, "got str"),
        ([[torch.zeros(1, 77, 768), {"control": object(), "area": (1, 1, 0, 0)}]], InputValueError,
         "carries ControlNet, areas, which the text flow network does not apply"),
    ],
)
def test_anything_else_is_refused_naming_the_input_and_the_reader(conditioning, error, problem):
    with pytest.raises(error, match=problem):
        _read(conditioning)
