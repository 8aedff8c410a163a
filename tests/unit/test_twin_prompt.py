"""Realistic twin prompt from the artistic prompt (docs/pipeline.md#twin-prompt, with the official nouns bug fixed)."""

import pytest

from models.prompt.twin_prompt import (
    TWIN_SUFFIX,
    region_nouns,
    split_prompt,
    twin_prompt,
)
from models.prompt.vocabulary import OFFICIAL_NOUNS, REGION_NOUNS

DEFAULT_PROMPT = "a large waterfall falling from hills during sunset in the style of Leonid Afremov"
DIRECTIONAL_PROMPT = ("a large river flowing in right to left, upwards direction in front of a mountain "
                      "in the style of starry nights painting")


def test_suffix_is_the_official_one():
    assert TWIN_SUFFIX == "nature, bright, realistic, photography, 4k, 8k"


def test_official_noun_list_is_kept_and_extended():
    assert set(OFFICIAL_NOUNS) <= REGION_NOUNS
    assert {"smoke", "fire", "fog", "mist", "clouds"} <= REGION_NOUNS


def test_default_prompt_finds_the_waterfall_the_official_bug_dropped():
    assert region_nouns(DEFAULT_PROMPT) == ("waterfall",)
    assert split_prompt(DEFAULT_PROMPT).twin == f"waterfall, {TWIN_SUFFIX}"


def test_nouns_keep_prompt_order_case_insensitive_and_once():
    prompt = "Clouds over the SEA, a waterfall, more clouds and a Waterfall in the fog"
    assert region_nouns(prompt) == ("clouds", "sea", "waterfall", "fog")
    assert twin_prompt(region_nouns(prompt)) == f"clouds sea waterfall fog, {TWIN_SUFFIX}"


def test_words_are_matched_whole_not_inside_other_words():
    assert region_nouns("seashell on a seat, skyscraper, firework") == ()


def test_no_region_noun_gives_the_suffix_without_a_dangling_comma():
    result = split_prompt("a portrait of a cat in the style of van gogh")
    assert result.nouns == ()
    assert result.twin == TWIN_SUFFIX


def test_official_direction_phrase_is_removed_and_reported():
    result = split_prompt(DIRECTIONAL_PROMPT)
    assert result.direction == "in right to left, upwards direction"
    assert "direction" not in result.artistic and "right to left" not in result.artistic
    assert result.artistic.startswith("a large river flowing in front of a mountain")
    assert result.twin == f"river, {TWIN_SUFFIX}"


def test_free_form_direction_phrase():
    result = split_prompt("smoke rising upwards from a chimney, oil painting")
    assert result.direction == "upwards"
    assert "upwards" not in result.artistic
    assert result.nouns == ("smoke",)


def test_no_direction_keeps_the_prompt():
    result = split_prompt(f"  {DEFAULT_PROMPT} ")
    assert result.direction == ""
    assert result.artistic == DEFAULT_PROMPT


def test_override_wins_when_not_blank():
    assert split_prompt(DEFAULT_PROMPT, "  waterfall, nature, jungle  ").twin == "waterfall, nature, jungle"
    assert split_prompt(DEFAULT_PROMPT, "   ").twin == f"waterfall, {TWIN_SUFFIX}"


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="prompt is empty"):
        split_prompt("   ")
    with pytest.raises(TypeError, match="prompt must be a string"):
        split_prompt(None)
    with pytest.raises(TypeError, match="override must be a string"):
        split_prompt(DEFAULT_PROMPT, 3)
