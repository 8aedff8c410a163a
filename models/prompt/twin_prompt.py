"""Artistic prompt → the realistic twin's prompt and the direction phrase (docs/pipeline.md#twin-prompt).

The official code keeps the NLTK nouns of the prompt that appear in ``dataset/nouns.json`` and appends
", nature, bright, realistic, photography, 4k, 8k". Its membership test looks at the JSON dict (whose only key
is "nouns"), so no noun ever matched and every automatic twin prompt collapsed to the suffix. Here:

* the test is against the word list itself (the fix), with no NLTK and nothing downloaded: the list holds only
  words that name a region that moves, so part-of-speech tagging adds nothing but a dependency;
* the list is the official one extended with other things people animate (smoke, fire, fog, mist, …): the
  nouns of the one vocabulary of things that move, :mod:`models.prompt.vocabulary`;
* matching is case-insensitive, nouns keep the order of the prompt, and a repeated noun is kept once (the official
  code would keep duplicates; "waterfall waterfall" tells the diffusion model nothing more than "waterfall");
* with no region noun the twin prompt is the suffix alone, without the official's dangling leading comma.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ..checks import InputValueError, check_string
from .direction import parse_direction, truncation_note
from .vocabulary import REGION_NOUNS

log = logging.getLogger(__name__)

TWIN_SUFFIX = "nature, bright, realistic, photography, 4k, 8k"
"""Appended to the region nouns to make the realistic twin prompt (official)."""

_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class TwinPrompts:
    """What the twin-prompt node hands on."""

    artistic: str
    """The artistic prompt with the direction phrase removed (the official s1 edit)."""
    twin: str
    """The realistic twin prompt: the override, or the region nouns followed by :data:`TWIN_SUFFIX`."""
    direction: str
    """The direction phrase as written in the prompt, or "" when there is none."""
    nouns: tuple[str, ...]
    """The region nouns found (lower case, prompt order, each once)."""


def region_nouns(prompt: str) -> tuple[str, ...]:
    """The words of ``prompt`` that name a moving region, lower case, in prompt order, each once."""
    words = (word.lower() for word in _WORD.findall(check_string(prompt, "prompt")))
    return tuple(dict.fromkeys(word for word in words if word in REGION_NOUNS))


def twin_prompt(nouns: tuple[str, ...] | list[str]) -> str:
    """The official automatic twin prompt: nouns joined by spaces, then ", " and :data:`TWIN_SUFFIX`."""
    head = " ".join(noun.strip() for noun in nouns if noun.strip())
    return f"{head}, {TWIN_SUFFIX}" if head else TWIN_SUFFIX


def split_prompt(prompt: str, override: str = "") -> TwinPrompts:
    """Direction phrase out of the artistic prompt, and the realistic twin prompt (``override`` when not blank)."""
    prompt = check_string(prompt, "prompt").strip()
    override = check_string(override, "override").strip()
    if not prompt:
        raise InputValueError("the artistic prompt is empty: write what the painting shows, e.g. "
                              "'a large waterfall falling from hills during sunset in the style of Leonid Afremov'")
    found = parse_direction(prompt)
    if (note := truncation_note(prompt)) is not None:
        log.warning("Twin Prompt: %s", note)
    artistic = found.prompt if found is not None else prompt
    nouns = region_nouns(artistic)
    return TwinPrompts(
        artistic=artistic,
        twin=override or twin_prompt(nouns),
        direction=found.phrase if found is not None else "",
        nouns=nouns,
    )
