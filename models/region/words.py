"""The grammar of Region Mask's ``words`` input, and its default, in one place.

``words`` names what moves: classes separated by ``;``, synonyms of one class by ``,``, and a synonym may be a
phrase of several words ("water, waterfall; hot spring"). Each coarse-mask backend reads the part it needs:

* ODISE takes the classes of synonyms (:func:`parse_vocabulary`, its own vocabulary format, first synonym =
  display name);
* CLIP labels proposals with the synonyms as phrases (:func:`parse_phrases`), since "hot spring" means more to
  it than "hot" and "spring";
* the sampler's cross-attention has one map per prompt token, so it matches single words (:func:`parse_words`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..checks import InputTypeError, InputValueError

DEFAULT_WORDS = "water, waterfall, river, ocean, lake, sea"
"""Region Mask's default: the water classes of the official vocabulary, as synonyms of one class."""

_EMPTY = "words is empty: give at least one word, e.g. 'water, waterfall'"
_WORD_SEPARATOR = re.compile(r"[^a-z0-9'-]+")


def _classes(text: str) -> list[list[str]]:
    classes = [[w.strip() for w in part.split(",") if w.strip()] for part in text.split(";")]
    return [synonyms for synonyms in classes if synonyms]


def parse_vocabulary(vocabulary: str) -> list[list[str]]:
    """"water, waterfall; sky" → [["water", "waterfall"], ["sky"]] (classes of synonyms, empties dropped)."""
    if not isinstance(vocabulary, str):
        raise InputTypeError(f"vocabulary must be a string like 'water, river; sky', got {type(vocabulary).__name__}")
    classes = _classes(vocabulary)
    if not classes:
        raise InputValueError("vocabulary is empty: give classes like 'water, waterfall, river; sky'")
    return classes


def parse_phrases(words: str | Sequence[str]) -> list[str]:
    """Every synonym of every class as a phrase, lower case with single spaces, each once (a list of phrases is
    taken as it is): "Water, hot  spring; sea" → ["water", "hot spring", "sea"]."""
    items = [w for synonyms in _classes(words) for w in synonyms] if isinstance(words, str) else map(str, words)
    phrases = list(dict.fromkeys(" ".join(item.lower().split()) for item in items if item.strip()))
    if not phrases:
        raise InputValueError(_EMPTY)
    return phrases


def parse_words(words: str | Sequence[str]) -> list[str]:
    """The single lower-case words of :func:`parse_phrases`, each once: "Water, waterfall; river sea" →
    ["water", "waterfall", "river", "sea"]."""
    pieces = (w for phrase in parse_phrases(words) for w in _WORD_SEPARATOR.split(phrase))
    parsed = list(dict.fromkeys(w for w in pieces if w.strip("'-")))
    if not parsed:
        raise InputValueError(_EMPTY)
    return parsed
