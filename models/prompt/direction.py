"""Direction phrases in prompts → a reproducible flow angle.

The official pipeline only understands the 12 literal phrases "in <direction> direction" and draws θ
with an unseeded ``random``, so results cannot be reproduced. Here the official phrases keep their
sector semantics (centre by default, a seeded draw on request) and the way people actually write
directions is understood too: "flowing to the left", "towards the bottom right", "upwards",
"from left to right", "at 30 degrees", compass words ("north" = up in the image) …

Angles are degrees counter-clockwise from +x with image y pointing down (up = 90), so the unit
vector is (cos θ, −sin θ) (:func:`models.flow.ops.angle_vector`). Unknown or empty text gives ``None``, never an
exception.

Parsing is linear and bounded: only the first :data:`MAX_PARSED_CHARS` characters are searched (a CLIP prompt is
77 tokens, a few hundred characters; callers note when text was cut), and an "in … direction" phrase is only
read when at most :data:`MAX_WRAPPED_CHARS` characters lie between "in" and "direction".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..checks import InputValueError, check_number, check_string

OFFICIAL_DIRECTIONS: tuple[str, ...] = (
    "left to right", "left to right, upwards", "upwards, left to right", "upwards", "upwards, right to left",
    "right to left, upwards", "right to left", "right to left, downwards", "downwards, right to left", "downwards",
    "downwards, left to right", "left to right, downwards",
)
"""Names of the 12 official directions, in sector order (for a node's combo box)."""
_SECTOR_BOUNDS = (350.0, 10.0, 45.0, 80.0, 100.0, 135.0, 170.0, 190.0, 225.0, 260.0, 280.0, 315.0, 350.0)
OFFICIAL_SECTORS: dict[str, tuple[float, float]] = dict(
    zip(OFFICIAL_DIRECTIONS, zip(_SECTOR_BOUNDS[:-1], _SECTOR_BOUNDS[1:], strict=True), strict=True)
)
"""The 12 official directions and their θ sectors (lo, hi), counter-clockwise from lo; "left to right"
wraps around 0 (docs/pipeline.md#direction-phrases)."""


MAX_PARSED_CHARS = 4096
"""Only this many leading characters of a text are searched for a direction (the rest is kept, not read)."""
MAX_WRAPPED_CHARS = 120
"""The longest "<direction>" read inside "in <direction> direction" (the longest phrase understood is ~80)."""


def truncation_note(text: str) -> str | None:
    """A note for the user when :func:`parse_direction` reads only part of ``text``, else None."""
    if isinstance(text, str) and len(text) > MAX_PARSED_CHARS:
        return (f"the text is {len(text):,} characters; only the first {MAX_PARSED_CHARS:,} are read for a "
                f"direction — put the direction phrase near the start")
    return None


AUTO, CUSTOM = "auto (from text)", "custom angle"
DIRECTION_CHOICES: tuple[str, ...] = (AUTO, *OFFICIAL_DIRECTIONS, CUSTOM)
"""Text Flow's ``direction`` options: read the text, one of the 12 official directions, or a custom angle."""

# In a two-part direction ("downwards and to the right") the first part dominates: it is turned by
# this many degrees towards the second, which reproduces the official sector centres exactly
# ("left to right, upwards" = 10–45 → 27.5, "upwards, left to right" = 45–80 → 62.5).
_SECONDARY_TURN = 27.5


@dataclass(frozen=True)
class Direction:
    """A direction found in a prompt."""

    angle: float
    """θ in degrees, counter-clockwise from +x (image y down, so up = 90), in [0, 360)."""
    phrase: str
    """The matched text, exactly as it appears in the prompt."""
    prompt: str
    """The prompt with the phrase removed (as the official s1 edit does, with tidy commas/spaces)."""
    name: str | None = None
    """The official direction name when the phrase is one of the 12, else None."""
    sector: tuple[float, float] | None = None
    """The official θ sector (lo, hi) when ``name`` is set, else None."""


def sector_angle(name: str, seed: int | None = None) -> float:
    """θ for an official direction name: the sector centre, or a uniform draw inside it for a seed.

    The same seed always gives the same θ (the official code's draw is unseeded).
    """
    key = _normalise(name)
    if key not in OFFICIAL_SECTORS:
        raise InputValueError(f"unknown direction {name!r}; use one of: {', '.join(OFFICIAL_DIRECTIONS)}")
    lo, hi = OFFICIAL_SECTORS[key]
    width = (hi - lo) % 360.0
    offset = width / 2.0 if seed is None else float(np.random.default_rng(seed).uniform(0.0, width))
    return (lo + offset) % 360.0


def chosen_angle(choice: str, angle: float) -> float | None:
    """θ in degrees from a :data:`DIRECTION_CHOICES` choice: the custom ``angle`` (wrapped into [0, 360)), an
    official sector's centre, or None for :data:`AUTO` (the text, then the class priors, decide)."""
    if choice == CUSTOM:
        return check_number(angle, "Text Flow `angle`", expected="a finite number of degrees") % 360.0
    if choice == AUTO:
        return None
    return sector_angle(choice)


def parse_direction(text: str | None, *, seed: int | None = None) -> Direction | None:
    """Find the direction a prompt asks for; None when there is none.

    Precedence: an official "in <direction> direction" phrase (the first one, as the official parser
    does), else the leftmost (then longest) free-form expression. ``seed`` only matters for official
    directions: None → sector centre, an int → a reproducible draw inside the sector.
    """
    if text is None:
        return None
    check_string(text, "direction text")
    text_read = text[:MAX_PARSED_CHARS]
    match = _official_wrapped(text_read) or _free_form(text_read)
    if match is None:
        return None
    start, end, name, angle = match
    if name is not None:
        angle = sector_angle(name, seed)
    return Direction(
        angle=angle % 360.0,
        phrase=text[start:end],
        prompt=_remove_span(text, start, end),
        name=name,
        sector=OFFICIAL_SECTORS.get(name) if name else None,
    )


# ---------------------------------------------------------------------------------------------------
# Grammar. Positions ("left", "bottom right", "north-east") become angles from the words they contain.

_H = r"(?:left|right)"
_V = r"(?:top|upper|bottom|lower)"
_COMPASS = r"(?:(?:north|south)(?:[\s-]?(?:east|west))?|east|west)"
_POS = rf"(?:{_V}[\s-]+{_H}|{_H}|top|bottom|{_COMPASS})"
_SUFFIX = (
    r"(?:[\s-]+(?:side|edge|corner|end|part|half))?"
    r"(?:\s+of\s+the\s+(?:image|frame|picture|canvas|screen|painting|scene))?"
)
# A position must not continue ("the bottom right of the tree" is a place, not a direction), and
# must end a word ("southern" is not "south").
_END = r"(?![\s-]+(?:of|left|right|side|edge|corner|end|part|half)\b)(?![\w-])"
_THE = r"(?:the\s+)?"
_VERBS = (
    r"(?:flow|flows|flowing|flowed|move|moves|moving|go|goes|going|run|runs|running|stream|streams|"
    r"streaming|drift|drifts|drifting|blow|blows|blowing|rise|rises|rising|fall|falls|falling|pour|"
    r"pours|pouring|rush|rushes|rushing|head|heads|heading|float|floats|floating|travel|travels|"
    r"travelling|traveling|roll|rolls|rolling|spill|spills|spilling|cascade|cascades|cascading|"
    r"come|comes|coming|sweep|sweeps|sweeping|swirl|swirls|swirling|surge|surges|surging)"
)
_OFFICIAL_PART = {
    "left to right": rf"(?:from\s+)?{_THE}left\s+to\s+{_THE}right",
    "right to left": rf"(?:from\s+)?{_THE}right\s+to\s+{_THE}left",
    "upwards": r"upwards?",
    "downwards": r"downwards?",
}
_SEPARATOR = r"(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s+)"

_TO = r"(?:to|towards?|into)"
_DEGREES = (
    r"(?:\bat\s+(?:an\s+angle\s+of\s+)?)?(?<![\w.])(?P<deg>[-+]?\d+(?:\.\d+)?)"
    r"(?:\s*[°º]|\s*degrees?\b|\s*deg\b)(?!\s*(?:celsius|fahrenheit|[cf]\b))"
)
_WARDS = r"\b(?P<dst>(?:north|south)-?(?:east|west)|north|south|east|west|up|down|left|right|sky)-?wards?\b"
_GENERIC_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        ("from_to", rf"\b(?:from\s+)?{_THE}(?P<src>{_POS})\s+{_TO}\s+{_THE}(?P<dst>{_POS}){_SUFFIX}{_END}"),
        ("to", rf"\b{_TO}\s+{_THE}(?P<dst>{_POS}){_SUFFIX}{_END}"),
        ("wards", _WARDS),
        ("verb", rf"\b{_VERBS}\s+(?P<span>(?P<dst>up|down|{_H}|{_COMPASS})){_END}"),
        ("verb_from", rf"\b{_VERBS}\s+(?P<span>from\s+{_THE}(?P<src>{_POS}){_SUFFIX}){_END}"),
        ("viewer", r"\b(?:to|towards?)\s+(?:the\s+)?(?:viewer|camera|foreground)\b"),
        ("away", r"\baway\s+from\s+(?:the\s+)?(?:viewer|camera)\b|\binto\s+the\s+distance\b"),
        ("degrees", _DEGREES),
    )
)
# Only when the whole text is a position ("north-east", "bottom right"): a bare "left" inside a
# sentence is usually a place, not a motion.
_BARE_POSITION = re.compile(rf"\s*(?:{_THE}(?P<dst>{_POS})|(?P<ud>up|down))\s*", re.IGNORECASE)
_OFFICIAL_BARE = tuple(
    (name, re.compile(rf"\b{_SEPARATOR.join(_OFFICIAL_PART[part] for part in name.split(', '))}\b", re.IGNORECASE))
    for name in sorted(OFFICIAL_DIRECTIONS, key=len, reverse=True)
)
# "towards the viewer" means down in the image (nearer = lower), "into the distance" up.
_FIXED_ANGLES = {"viewer": 270.0, "away": 90.0}
_WRAPPER_START = re.compile(r"\bin\s+", re.IGNORECASE)
_WRAPPER_END = re.compile(r"\s+direction\b", re.IGNORECASE)
_WORD_VECTORS = (
    ("upper", (0, 1)), ("lower", (0, -1)), ("top", (0, 1)), ("bottom", (0, -1)), ("north", (0, 1)),
    ("south", (0, -1)), ("east", (1, 0)), ("west", (-1, 0)), ("left", (-1, 0)), ("right", (1, 0)),
    ("up", (0, 1)), ("down", (0, -1)), ("sky", (0, 1)),
)
_WORD_RE = re.compile("|".join(word for word, _ in _WORD_VECTORS), re.IGNORECASE)


def _normalise(phrase: str) -> str:
    """Lower case, single spaces, ", " between parts: how official names are compared."""
    phrase = re.sub(r"\s*,\s*", ", ", phrase.strip().lower())
    return re.sub(r"\s+", " ", phrase)


def _position_vector(words: str) -> tuple[float, float]:
    """Sum of the unit vectors (x right, y UP) of the position words in a phrase."""
    vectors = dict(_WORD_VECTORS)
    hits = [vectors[m.group(0).lower()] for m in _WORD_RE.finditer(words)]
    return float(sum(v[0] for v in hits)), float(sum(v[1] for v in hits))


def _vector_angle(vx: float, vy: float) -> float | None:
    if abs(vx) < 1e-9 and abs(vy) < 1e-9:
        return None
    return math.degrees(math.atan2(vy, vx)) % 360.0


def _generic_angle(kind: str, m: re.Match[str]) -> float | None:
    if kind in _FIXED_ANGLES:
        return _FIXED_ANGLES[kind]
    if kind == "degrees":
        return float(m.group("deg")) % 360.0
    if kind == "verb_from":
        sx, sy = _position_vector(m.group("src"))
        return _vector_angle(-sx, -sy)
    dx, dy = _position_vector(m.group("dst"))
    if kind == "from_to":
        sx, sy = _position_vector(m.group("src"))
        dx, dy = dx - sx, dy - sy
    return _vector_angle(dx, dy)


def _wrapper_spans(text: str) -> list[tuple[int, int, int, int]]:
    """(start, inner start, inner end, end) of every "in <fragment> direction": each "in " paired with its nearest
    following " direction", in one pass (the ends are found once), fragments over :data:`MAX_WRAPPED_CHARS` skipped."""
    ends = [(m.start(), m.end()) for m in _WRAPPER_END.finditer(text)]
    spans, j = [], 0
    for start_match in _WRAPPER_START.finditer(text):
        while j < len(ends) and ends[j][0] < start_match.end():
            j += 1
        if j == len(ends):
            break
        if ends[j][0] - start_match.end() <= MAX_WRAPPED_CHARS:
            spans.append((start_match.start(), start_match.end(), ends[j][0], ends[j][1]))
    return spans


def _official_wrapped(text: str) -> tuple[int, int, str, float] | None:
    """First "in <official> direction" span (every "in " tried up to its nearest "direction")."""
    for start, inner_start, inner_end, end in _wrapper_spans(text):
        name = _normalise(text[inner_start:inner_end])
        if name in OFFICIAL_SECTORS:
            return start, end, name, 0.0
    return None


def _candidates(text: str, wrappers: bool = True) -> list[tuple[int, int, str | None, float]]:
    """Every direction expression in the text as (start, end, official name or None, angle).

    ``wrappers=False`` inside an "in … direction" fragment: it holds no further " direction" (its end is the
    nearest one), so no wrapped phrase can match there — skipping them keeps the work linear."""
    found: list[tuple[int, int, str | None, float]] = []
    for name, pattern in _OFFICIAL_BARE:
        found += [(m.start(), m.end(), name, 0.0) for m in pattern.finditer(text)]
    for kind, pattern in _GENERIC_PATTERNS:
        for m in pattern.finditer(text):
            angle = _generic_angle(kind, m)
            if angle is not None:
                span = m.span("span") if "span" in pattern.groupindex else m.span()
                found.append((span[0], span[1], None, angle))
    for start, inner_start, inner_end, end in _wrapper_spans(text) if wrappers else ():
        inner = _whole(text[inner_start:inner_end], wrappers=False)
        if inner is not None:
            found.append((start, end, inner[0], inner[1]))
    return found


def _whole(fragment: str, wrappers: bool = True) -> tuple[str | None, float] | None:
    """The direction of a fragment that is nothing but a direction ("the north-east", "left")."""
    fragment = re.sub(r"^\s*(?:the|an?)\s+", "", fragment)
    if _BARE_POSITION.fullmatch(fragment):
        angle = _vector_angle(*_position_vector(fragment))
        return None if angle is None else (None, angle)
    stripped = fragment.strip()
    best = _best(stripped, wrappers)
    if best is not None and best[0] == 0 and best[1] == len(stripped):
        return best[2], best[3]
    return None


def _pick(found: list[tuple[int, int, str | None, float]]) -> tuple[int, int, str | None, float] | None:
    """Leftmost, then longest, then official over free-form."""
    if not found:
        return None
    return min(found, key=lambda c: (c[0], -(c[1] - c[0]), c[2] is None))


def _best(text: str, wrappers: bool = True) -> tuple[int, int, str | None, float] | None:
    """The leftmost expression, refined by a second one right after it ("downwards and to the right")."""
    found = _candidates(text, wrappers)
    first = _pick(found)
    if first is None or (first[2] is not None and "," in first[2]):
        return first
    start, end, name, angle = first
    angle = sector_angle(name) if name else angle
    gap = re.match(_SEPARATOR, text[end:], re.IGNORECASE)
    second = _pick([c for c in found if gap is not None and c[0] == end + gap.end()])
    if second is not None:
        second_angle = sector_angle(second[2]) if second[2] else second[3]
        turn = (second_angle - angle + 180.0) % 360.0 - 180.0
        if 1e-6 < abs(turn) < 180.0 - 1e-6:
            return start, second[1], None, (angle + turn * _SECONDARY_TURN / 90.0) % 360.0
    return first


def _free_form(text: str) -> tuple[int, int, str | None, float] | None:
    whole = _whole(text)
    if whole is not None:
        return 0, len(text), whole[0], whole[1]
    return _best(text)


def _remove_span(text: str, start: int, end: int) -> str:
    """Delete text[start:end] and tidy the seam (no doubled spaces or commas, none left dangling)."""
    left, right = text[:start].rstrip(), text[end:].lstrip()
    if not left:
        return right.lstrip(",;: ").lstrip()
    if not right:
        return left.rstrip(",;: ").rstrip()
    if right[0] in ",.;:!?":
        if left[-1] in ",;:":
            right = right[1:].lstrip()
            return left + (" " + right if right else "")
        return left + right
    return left + " " + right
