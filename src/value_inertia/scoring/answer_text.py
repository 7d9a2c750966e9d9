"""The text side of the answer parser: patterns, clean-up, restated lists, raw hits.

:mod:`value_inertia.scoring.parsing` turns these into candidates and a decision
(its docstring lists the rules). Everything here works on one cleaned answer
text and keeps character offsets, so hits can be compared by position.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

LETTERS = "ABCDEF"

# --------------------------------------------------------------------------- #
# Regular expressions
# --------------------------------------------------------------------------- #

# A letter token: one of A-F not glued to a word ("B." fine, "Bob", "A's" not).
_L = r"(?P<letter>[A-Fa-f])(?![\w'])"
# What may stand between a keyword and its letter: "option", quotes, brackets.
_PRE = r"(?:(?:option|letter|answer|choice)\s*)?[\"(\[]?\s*"

_DECLARATIONS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        # "answer is X", "Answer: X", "the answer would be option X"
        rf"\banswer\s*(?:is|would\s+be|will\s+be|=|:|-|–|—)?\s*:?\s*{_PRE}{_L}",
        # "I choose X", "I'll go with X", "picking X", "rate this as X"
        r"\b(?:choose|chose|chosen|choosing|select|selected|selecting|pick|picked|picking"
        r"|go(?:ing)?\s+with|opt(?:ing)?\s+for|settle\s+on|lean(?:ing)?\s+towards?"
        rf"|rate\s+(?:it|this)\s+(?:as\s+)?)\s*:?\s*{_PRE}{_L}",
        # "I'd say X", "I would say X"
        rf"\bi(?:'d|\s+would|'ll|\s+will)?\s+say\s*:?\s*{_PRE}{_L}",
        # "my choice is X", "Response: X", "My response would be: X"
        r"\b(?:choice|selection|response|pick|rating)\s*(?:(?:is|would\s+be|will\s+be)\s*:?|=|:)"
        rf"\s*{_PRE}{_L}",
        # "I would respond with X", "I'd rate this as X"
        rf"\b(?:respond|reply|answer|rate\s+(?:it|this|myself))\s+(?:with|as)\s*:?\s*{_PRE}{_L}",
        # "Option X", "letter X"
        rf"\b(?:option|letter)\s*[\"(\[]?\s*{_L}",
        # "X is my answer", "C would be the best fit"
        rf"(?<![\w'.])[\"(\[]?{_L}\s*(?:is|would\s+be|seems)\s+(?:my|the)\s+"
        r"(?:final\s+|best\s+|correct\s+|right\s+)?(?:answer|choice|pick|option|fit)",
        # "(C)", "[C]"
        r"\((?P<letter>[A-Fa-f])\)",
        r"\[(?P<letter>[A-Fa-f])\]",
    )
]
# A letter that opens a line and is followed by a delimiter: "B. Not like you", "b) ...".
_LINE_START = re.compile(
    rf"^[ \t]*(?:[-•>][ \t]*)?[\"(\[]?{_L}[ \t]*(?:[.):\]]|[ \t][-–—][ \t])(?!\w)",
    re.IGNORECASE | re.MULTILINE,
)
# A line that is only a letter: "B", "b)", "(C)", "D."
BARE_LINE = re.compile(
    rf"^[ \t]*[\"(\[]?{_L}[\")\]]?[ \t]*[.):!]?[ \t]*$", re.IGNORECASE | re.MULTILINE
)
# "B or C", "b/c", "either A or D": both letters count.
_ALTERNATIVES = re.compile(
    r"(?<![\w'.])(?P<l1>[A-Fa-f])[ \t]*[.)]?[ \t]*(?:or|/)[ \t]*(?:option[ \t]*)?"
    r"(?P<l2>[A-Fa-f])(?![\w'])",
    re.IGNORECASE,
)
# A standalone capital letter in prose ("Actually also E"). Case-sensitive.
_BARE_MENTION = re.compile(r"(?<![\w'.])(?P<letter>[A-F])(?![\w'])(?!\.\w)")

# Words after which "a"/"A" is still a letter rather than the article ("A or B").
# fmt: off
_A_FOLLOWERS = frozenset({
    "or", "and", "nor", "but", "then", "with", "as", "because", "since",
    "is", "was", "would", "could", "might", "seems", "feels", "fits", "best", "describes",
    "matches",
})
# fmt: on

# A letter that is being rejected: "not option A", "rather than B", "instead of C".
_REJECT_BEFORE = re.compile(
    r"(?:\bnot|n't|\bnever|\bnor|\bthan|\binstead\s+of|\bexcept)\s+"
    r"(?:(?![A-Fa-f]\b)[\w']+\s+){0,2}"
    r"[\"(\[]?\s*$",
    re.IGNORECASE,
)
# ... or rejected after it: "A is not", "B would be too strong", "C isn't".
_REJECT_AFTER = re.compile(
    r"^[\"')\]]?[ \t]*(?:is|was|does|would|could|should|might|may|seems?|feels?|sounds?)"
    r"(?:n't|\s+not)?\s+(?:be\s+|seem\s+)?(?:not|never|too|wrong|incorrect)\b"
    r"|^[\"')\]]?[ \t]*(?:is|was|does|would|could|should)n't\b",
    re.IGNORECASE,
)
# Words that, straight before a label, change its meaning ("not really like me").
LABEL_GUARD = re.compile(
    r"(?:\b(?:not|no|never|nor|hardly|barely|than|somewhat|quite|rather|really|fairly"
    r"|pretty|very|much|little|bit|moderately|slightly|strongly|extremely|highly|mostly"
    r"|completely|totally|kinda|sorta|too|more|less|most|least|only|all|just|exactly"
    r"|someone|somebody|anyone|people|person|those|others)|n't|instead\s+of"
    r"|kind\s+of|sort\s+of)\s+$",
    re.IGNORECASE,
)
# What, straight before a label, declares it the answer: 'my answer is "Moderately like
# you"', "I would respond: Like you", "I'd say very much like me", "I choose: Like you".
DECLARED_LABEL = re.compile(
    r"(?:\b(?:answer|response|choice|selection|rating)\s*(?:(?:is|would\s+be|will\s+be)\s*)?"
    r"[:=\-–—]?|\b(?:respond|reply|answer)(?:\s+(?:with|as))?\s*:?"
    r"|\b(?:choose|chose|select|pick|go\s+with|opt\s+for)\s*:?"
    r"|\bi(?:'d|\s+would|'ll|\s+will)?\s+say\s*:?)\s*[\"(\[]?\s*$",
    re.IGNORECASE,
)
CONCLUSION = re.compile(
    r"\b(?:final(?:ly)?|therefore|thus|hence|consequently|in\s+conclusion|to\s+conclude"
    r"|overall|ultimately|in\s+the\s+end|all\s+things\s+considered|on\s+balance"
    r"|in\s+summary|to\s+sum\s+up|so\s+(?:my|the|i|i'll|i'd|i\s+will|i\s+would))\b"
    r"|^\s*so\b",
    re.IGNORECASE,
)
SENTENCE_END = re.compile(r"[.!?](?=\s)")
REFUSAL = re.compile(
    r"\bi\s+(?:cannot|can't|can\s+not|won't|will\s+not|must\s+decline|am\s+unable"
    r"|am\s+not\s+able|(?:do\s+not|don't)\s+feel\s+comfortable)\b"
    r"|\bi'm\s+(?:unable|not\s+able|sorry)\b|\bas\s+an\s+ai\b"
    r"|\bas\s+a\s+(?:large\s+)?language\s+model\b"
    r"|\b(?:don't|do\s+not)\s+have\s+(?:personal|my\s+own|any)\b"
    r"|\b(?:not\s+able|unable)\s+to\s+(?:answer|provide|choose|select|respond)\b",
    re.IGNORECASE,
)

_PRONOUNS = {
    "you": r"(?:you|me|myself|yourself)",
    "your": r"(?:your|my)",
    "yourself": r"(?:yourself|myself)",
}


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def clean(text: str) -> str:
    """Straighten quotes and drop markdown emphasis and heading marks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(str.maketrans("’‘“”", "''\"\""))
    # a single quote that is not an apostrophe inside a word ("don't") quotes something
    text = re.sub(r"(?<![A-Za-z0-9])'|'(?![A-Za-z0-9])", '"', text)
    text = re.sub(r"\*+|__+|`+", "", text)
    return re.sub(r"^[ \t]*#+[ \t]*", "", text, flags=re.MULTILINE)


def blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Replace the characters in ``spans`` with spaces, keeping newlines and offsets."""
    chars = list(text)
    for start, end in spans:
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def label_pattern(label: str) -> str:
    """Regex for a label: flexible whitespace, first-person forms for you/your."""
    words = re.findall(r"[\w']+", label.lower())
    parts = [_PRONOUNS.get(w, re.escape(w)) for w in words]
    return r"(?<![\w'])" + r"\s+".join(parts) + r"(?![\w'])"


def is_article(text: str, pos: int) -> bool:
    """True when the "a"/"A" at ``pos`` is the English article ("a little", "A person")."""
    if text[pos] not in "aA":
        return False
    follower = re.match(r"[ \t]+([A-Za-z]+)", text[pos + 1 :])
    return follower is not None and follower.group(1).lower() not in _A_FOLLOWERS


def is_rejected(text: str, start: int, letter_pos: int) -> bool:
    """A letter preceded by a negation ("not option A") or followed by one ("A is not")."""
    return bool(
        _REJECT_BEFORE.search(text[max(0, start - 60) : start])
        or _REJECT_AFTER.match(text[letter_pos + 1 : letter_pos + 60])
    )


def _runs(items: Sequence[tuple[int, int, int]], gap_ok) -> list[list[tuple[int, int, int]]]:
    """Split (start, end, index) items into runs of consecutive indices 0,1,2... apart."""
    runs: list[list[tuple[int, int, int]]] = []
    for item in items:
        if runs and item[2] == runs[-1][-1][2] + 1 and gap_ok(runs[-1][-1][1], item[0]):
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


# --------------------------------------------------------------------------- #
# Step 3: restated option lists
# --------------------------------------------------------------------------- #

_OPTION_LINE = re.compile(
    r"^[ \t]*(?:[-•>][ \t]*)?[\"(\[]?(?P<letter>[A-Fa-f])"
    r"(?:[ \t]*(?:[.):\]]|[ \t][-–—])(?!\w).*|[ \t]*)$",
    re.IGNORECASE,
)
_INLINE_GAP = re.compile(r"[\s,;/|.()\[\]]*(?:(?:and|or)\b[\s,;/|.()\[\]]*)?")
_RANGE = re.compile(r"(?<![\w'])(?P<a>[A-F])\s*(?:-|–|—|to|through|thru)\s*(?P<b>[A-F])(?![\w'])")


def restated_line_spans(text: str) -> list[tuple[int, int]]:
    """Lines of a restated option list: 3+ option lines in letter sequence (blank lines ok)."""
    lines: list[tuple[int, int, int]] = []
    offset = 0
    breaker = (-1, -1, -10)  # a non-option line breaks any run
    for line in text.split("\n"):
        end = offset + len(line)
        match = _OPTION_LINE.match(line)
        if match:
            lines.append((offset, end, LETTERS.index(match["letter"].upper())))
        elif line.strip():
            lines.append(breaker)
        offset = end + 1
    spans: list[tuple[int, int]] = []
    for run in _runs(lines, lambda _a, _b: True):
        if len(run) >= 3 and run[0][2] >= 0:
            spans.extend((s, e) for s, e, _ in run)
    return spans


def restated_inline_spans(text: str, label_res: Sequence[re.Pattern[str]]) -> list[tuple[int, int]]:
    """Inline lists: 3+ "letter label" pairs or bare letters in sequence, and ranges A-F."""

    def gap_ok(end: int, start: int) -> bool:
        return _INLINE_GAP.fullmatch(text, end, start) is not None

    pairs: list[tuple[int, int, int]] = []
    for idx, label_re in enumerate(label_res):
        pair_re = re.compile(
            rf"(?<![\w']){LETTERS[idx]}[ \t]*[.):\]\-–—]?[ \t]*{label_re.pattern}",
            re.IGNORECASE,
        )
        pairs.extend((m.start(), m.end(), idx) for m in pair_re.finditer(text))
    letters = [
        (m.start(), m.end(), LETTERS.index(m["letter"])) for m in _BARE_MENTION.finditer(text)
    ]
    spans = []
    for items in (sorted(pairs), letters):
        for run in _runs(items, gap_ok):
            if len(run) >= 3:
                spans.append((run[0][0], run[-1][1]))
    for m in _RANGE.finditer(text):
        if LETTERS.index(m["b"]) - LETTERS.index(m["a"]) >= 2:
            spans.append((m.start(), m.end()))
    return spans


# --------------------------------------------------------------------------- #
# Steps 4-6: candidates
# --------------------------------------------------------------------------- #


def label_spans(text: str, label_res: Sequence[re.Pattern[str]]) -> list[tuple[int, int, int]]:
    """Non-overlapping label matches, longest first: (start, end, option index)."""
    found = [
        (m.start(), m.end(), idx)
        for idx, label_re in enumerate(label_res)
        for m in label_re.finditer(text)
    ]
    found.sort(key=lambda s: (-(s[1] - s[0]), s[0]))
    taken: list[tuple[int, int, int]] = []
    for start, end, idx in found:
        if all(end <= s or start >= e for s, e, _ in taken):
            taken.append((start, end, idx))
    return sorted(taken)


def letter_hits(text: str) -> list[tuple[int, int, int, bool]]:
    """All letter declarations: (match start, letter position, option index, strong).

    Strong hits are explicit (a keyword, a line that opens with the letter); a
    standalone capital in prose and "X or Y" are weak.
    """
    hits = []
    for pattern in (*_DECLARATIONS, _LINE_START, BARE_LINE, _BARE_MENTION):
        strong = pattern is not _BARE_MENTION
        for m in pattern.finditer(text):
            pos = m.start("letter")
            hits.append((m.start(), pos, LETTERS.index(text[pos].upper()), strong))
    for m in _ALTERNATIVES.finditer(text):
        for group in ("l1", "l2"):
            pos = m.start(group)
            hits.append((pos, pos, LETTERS.index(text[pos].upper()), False))
    return hits
