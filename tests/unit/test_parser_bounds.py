"""Hostile text and JSON: parsing stays linear and bounded (issue 13, item 1), errors stay clear.

The time bounds are generous (a slow, shared CI machine); the measured times are ~0.02–0.04 s."""

import random
import time

import pytest
import torch

from models.checks import InputValueError
from models.flow.engine import flow_from_text
from models.flow.hints import MAX_HINTS_CHARS, parse_arrows
from models.prompt.direction import MAX_PARSED_CHARS, parse_direction, truncation_note
from models.prompt.twin_prompt import split_prompt

BOUND_S = 1.0

_WORDS = ("water flows in the river to the left upwards direction of mountain sky north bottom right from at 30 "
          "degrees in towards down east the and, of").split()


def _random_words(n_chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(_WORDS) for _ in range(n_chars // 3))[:n_chars]


_SENTENCE = "A waterfall flows down the rocks in a quiet forest, clouds drift over the hills. "
HOSTILE_TEXTS = {
    "in×300 then direction (the reported 1.2 kB case)": "in " * 300 + "x direction",
    "in×30000 then direction": "in " * 30000 + "x direction",
    "in×34000": "in " * 34000,
    "in x direction ×7000": "in x direction " * 7000,
    "in in … upwards direction ×2000": ("in " * 20 + "upwards direction ") * 2000,
    "100 kB ordinary text": (_SENTENCE * 1300)[:100_000],
    "100 kB random direction words": _random_words(100_000),
    "100 kB of one letter": "a" * 100_000,
    "100 kB of spaces then a phrase": " " * 100_000 + "in upwards direction",
}


def _timed(function, *args, **kwargs) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


@pytest.mark.parametrize("text", HOSTILE_TEXTS.values(), ids=HOSTILE_TEXTS.keys())
def test_direction_parsing_is_bounded(text):
    assert _timed(parse_direction, text) < BOUND_S
    assert _timed(split_prompt, text) < BOUND_S


@pytest.mark.parametrize("key", ["in×30000 then direction", "100 kB random direction words"])
def test_text_flow_on_hostile_text_is_bounded(key):
    text = HOSTILE_TEXTS[key]
    image, mask = torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32)
    assert _timed(flow_from_text, image, mask, text) < 5 * BOUND_S  # includes the flow itself


def test_time_grows_linearly_not_faster():
    """Doubling the "in" count below the cap at most about doubles the time (the old parser: ×4–×8)."""
    small = min(_timed(parse_direction, "in " * 600 + "x direction") for _ in range(3))
    large = min(_timed(parse_direction, "in " * 1200 + "x direction") for _ in range(3))
    assert large < 4 * small + 0.01


def test_a_phrase_in_the_read_part_of_a_long_text_is_found_and_the_rest_kept():
    text = "a river flowing in upwards direction, " + "lorem ipsum " * 20_000
    found = parse_direction(text)
    assert found is not None and found.name == "upwards"
    assert found.prompt.startswith("a river flowing, lorem") and len(found.prompt) > MAX_PARSED_CHARS


def test_text_past_the_cap_is_not_read_and_the_note_says_so():
    text = "lorem ipsum " * 1000 + "in upwards direction"
    assert len(text) > MAX_PARSED_CHARS
    assert parse_direction(text) is None
    note = truncation_note(text)
    assert note is not None and f"{MAX_PARSED_CHARS:,}" in note and "start" in note
    assert truncation_note("in upwards direction") is None


def test_text_flow_notes_the_cut():
    image, mask = torch.rand(1, 3, 16, 16), torch.ones(1, 1, 16, 16)
    result = flow_from_text(image, mask, "water " * 2000)
    assert any("only the first" in w for w in result.warnings)


def test_a_wrapped_phrase_longer_than_any_direction_is_not_read():
    assert parse_direction("in " + "very " * 40 + "upwards direction") is not None  # "upwards" itself still counts
    assert parse_direction("in the bottom right direction").angle == pytest.approx(315.0)


HOSTILE_ARROWS = {
    "lists nested 100k deep": "[" * 100_000 + "]" * 100_000,
    "objects nested 20k deep": '{"arrows": ' * 20_000 + "[]" + "}" * 20_000,
    "an arrow nested 900 deep": "[" * 900 + "]" * 900,
    "3 MB of arrows": "[" + ",".join(["[0.1, 0.2, 0.3, 0.4]"] * 150_000) + "]",
    "unclosed 100k deep": "[" * 100_000,
}


@pytest.mark.parametrize("text", HOSTILE_ARROWS.values(), ids=HOSTILE_ARROWS.keys())
def test_hostile_arrows_give_a_clear_error_fast(text):
    start = time.perf_counter()
    with pytest.raises(InputValueError, match="motion hints") as error:
        parse_arrows(text)
    assert time.perf_counter() - start < BOUND_S
    assert len(str(error.value)) < 400  # the message never echoes megabytes


def test_the_hints_cap_leaves_room_for_every_allowed_arrow():
    arrows = ",\n    ".join(["[0.123456789012345, 0.223456789012345, 0.323456789012345, 0.423456789012345]"] * 128)
    text = '{\n  "arrows": [\n    ' + arrows + '\n  ]\n}'
    assert len(text) < MAX_HINTS_CHARS / 10
    assert len(parse_arrows(text).arrows) == 128
