"""Rule-based parser: free-text answer -> one option letter (A-F) and its rating.

``parse_answer(text, options)`` reads a model's free-text answer to a question
whose options were shown as ``A. <options[0]>`` ... ``F. <options[5]>``. It
returns a :class:`ParsedAnswer` with the letter, the rating in the *shown*
order (letter position + 1; the caller maps shuffled letters back to the
original scale) or, when no single choice can be read, a reason: ``"empty"``,
``"refusal"``, ``"ambiguous"`` or ``"no_option_found"``. It never guesses.

The rules, in the order they are applied:

1. **Empty.** ``None`` or whitespace only -> ``"empty"``.
2. **Clean-up.** Markdown emphasis (``**``, ``__``, ``*``, backticks), heading
   marks and curly quotes are removed or straightened; single quotes used as
   quotation marks ('Moderately like you') become double quotes (apostrophes
   inside words stay).
3. **Restated option lists are ignored.** Three or more option lines in letter
   sequence (``A. ...`` / ``B. ...`` / ``C. ...``), three or more
   letter+label pairs in sequence on one line, three or more bare letters in
   sequence (``A, B, C, D``) and letter ranges (``A-F``, ``A to F``) are blanked
   out before anything is read.
4. **Label mentions** (weak evidence). Every option label is searched for,
   case-insensitively, with first-person words accepted for the second-person
   ones (``me``/``I``/``myself`` for ``you``, ``my`` for ``your``), so "this is
   very much like me" matches "Very much like you". The longest match wins and
   shorter labels inside it are not counted ("Like you" inside "Not like you").
   A label straight after a negation or a degree word ("not", "don't",
   "somewhat", "really", "more", "than", "someone", ...) is not counted:
   "somewhat like me" is not "Like you"; nor is a label asked as a question
   ("Like me?").
5. **Letter declarations** (strong evidence): "answer is X", "Answer: X",
   "I choose / pick / select / go with X", "I'd say X", "my choice is X",
   "Option X", "letter X", "X is my answer", "(X)", "[X]", a letter that
   opens a line ("B. Not like you", "b) ..."), a line that is only a letter,
   a letter followed by its own label, "X or Y" (both letters count), and a
   standalone capital B-F (or an "A" that is not the English article) in prose.
   A lowercase or capital "a" followed by an ordinary word ("a little", "A
   person") is the article, not a letter; "I" is never a letter. A letter
   after "not", "n't", "never", "than", "instead of" (within two words), or
   followed by "is not", "would be too", "isn't", ... is a rejection and does
   not count. A letter inside a matched label ("A little like you") is part
   of the label.
6. **Conclusions.** A declaration or label whose sentence (text since the last
   ``.``, ``!`` or ``?``) contains a conclusion marker ("final answer",
   "therefore", "thus", "so my answer", "in conclusion", "overall",
   "ultimately", a sentence starting with "So", ...) is a conclusion; so is a
   final line that is only a letter, after other text.
7. **Decision.**
   - **Opening choice.** If the answer opens with an explicit declaration
     ("D. Moderately like you." then an explanation, "My response would be:
     D", a restated statement in quotes followed by "- B") made before any
     finished sentence of its own, later label mentions are ignored (an
     explanation uses the scale's words loosely: "it's like me to ...").
     Later letters still count: a later conclusion ("Final answer: C")
     revises it, another declared letter makes it ambiguous.
   - If there are conclusions, the last conclusion sentence decides: one
     letter there -> that letter, unless a later non-conclusion declaration
     names another letter; two letters there ("Therefore, B or C") ->
     ambiguous.
   - Otherwise, if there are letter declarations: all the same letter -> that
     letter; different letters -> ``"ambiguous"``.
   - Otherwise label mentions decide in the same way.
8. **Refusal.** No choice found (or an ambiguous one) and a refusal phrase
   ("I cannot answer", "As an AI", "I don't have personal ...", "I'm sorry,
   but ...") -> ``"refusal"``; no choice and no refusal -> ``"no_option_found"``.

Only the standard library is used.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

# Bump value_inertia.core.protocol.PARSER_VERSION whenever a change here can turn the same
# text into a different rating, so results of two parsers never rank together.
LETTERS = "ABCDEF"


@dataclass(frozen=True)
class ParsedAnswer:
    """The parsed choice: ``letter``/``rating`` set and ``reason`` None, or the reverse."""

    letter: str | None
    rating: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.letter is not None


@dataclass(frozen=True)
class _Candidate:
    index: int  # option index 0..5 (letter position in the shown order)
    start: int  # offset in the cleaned text
    kind: str  # "declaration" or "label"
    conclusion: bool
    sentence: int  # offset where the candidate's sentence starts
    strong: bool = False  # an explicit declaration (keyword, line start, letter + its label)


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
_BARE_LINE = re.compile(
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
_LABEL_GUARD = re.compile(
    r"(?:\b(?:not|no|never|nor|hardly|barely|than|somewhat|quite|rather|really|fairly"
    r"|pretty|very|much|little|bit|moderately|slightly|strongly|extremely|highly|mostly"
    r"|completely|totally|kinda|sorta|too|more|less|most|least|only|all|just|exactly"
    r"|someone|somebody|anyone|people|person|those|others)|n't|instead\s+of"
    r"|kind\s+of|sort\s+of)\s+$",
    re.IGNORECASE,
)
_CONCLUSION = re.compile(
    r"\b(?:final(?:ly)?|therefore|thus|hence|consequently|in\s+conclusion|to\s+conclude"
    r"|overall|ultimately|in\s+the\s+end|all\s+things\s+considered|on\s+balance"
    r"|in\s+summary|to\s+sum\s+up|so\s+(?:my|the|i|i'll|i'd|i\s+will|i\s+would))\b"
    r"|^\s*so\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?](?=\s)")
_REFUSAL = re.compile(
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


def _clean(text: str) -> str:
    """Straighten quotes and drop markdown emphasis and heading marks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(str.maketrans("’‘“”", "''\"\""))
    # a single quote that is not an apostrophe inside a word ("don't") quotes something
    text = re.sub(r"(?<![A-Za-z0-9])'|'(?![A-Za-z0-9])", '"', text)
    text = re.sub(r"\*+|__+|`+", "", text)
    return re.sub(r"^[ \t]*#+[ \t]*", "", text, flags=re.MULTILINE)


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Replace the characters in ``spans`` with spaces, keeping newlines and offsets."""
    chars = list(text)
    for start, end in spans:
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def _label_pattern(label: str) -> str:
    """Regex for a label: flexible whitespace, first-person forms for you/your."""
    words = re.findall(r"[\w']+", label.lower())
    parts = [_PRONOUNS.get(w, re.escape(w)) for w in words]
    return r"(?<![\w'])" + r"\s+".join(parts) + r"(?![\w'])"


def _is_article(text: str, pos: int) -> bool:
    """True when the "a"/"A" at ``pos`` is the English article ("a little", "A person")."""
    if text[pos] not in "aA":
        return False
    follower = re.match(r"[ \t]+([A-Za-z]+)", text[pos + 1 :])
    return follower is not None and follower.group(1).lower() not in _A_FOLLOWERS


def _is_rejected(text: str, start: int, letter_pos: int) -> bool:
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


def _restated_line_spans(text: str) -> list[tuple[int, int]]:
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


def _restated_inline_spans(
    text: str, label_res: Sequence[re.Pattern[str]]
) -> list[tuple[int, int]]:
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


def _label_spans(text: str, label_res: Sequence[re.Pattern[str]]) -> list[tuple[int, int, int]]:
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


def _letter_hits(text: str) -> list[tuple[int, int, int, bool]]:
    """All letter declarations: (match start, letter position, option index, strong).

    Strong hits are explicit (a keyword, a line that opens with the letter); a
    standalone capital in prose and "X or Y" are weak.
    """
    hits = []
    for pattern in (*_DECLARATIONS, _LINE_START, _BARE_LINE, _BARE_MENTION):
        strong = pattern is not _BARE_MENTION
        for m in pattern.finditer(text):
            pos = m.start("letter")
            hits.append((m.start(), pos, LETTERS.index(text[pos].upper()), strong))
    for m in _ALTERNATIVES.finditer(text):
        for group in ("l1", "l2"):
            pos = m.start(group)
            hits.append((pos, pos, LETTERS.index(text[pos].upper()), False))
    return hits


class _Context:
    """Sentence boundaries and conclusion markers of one cleaned text."""

    def __init__(self, text: str):
        self.text = text
        self.ends = [m.end() for m in _SENTENCE_END.finditer(text)]
        stripped = text.rstrip()
        last_line_start = stripped.rfind("\n") + 1
        final = _BARE_LINE.match(stripped, last_line_start)
        self.final_letter_pos = (
            final.start("letter") if final and text[:last_line_start].strip() else -1
        )

    def sentence_start(self, pos: int) -> int:
        i = bisect.bisect_right(self.ends, pos) - 1
        return self.ends[i] if i >= 0 else 0

    def is_conclusion(self, pos: int) -> bool:
        if pos == self.final_letter_pos:
            return True
        return bool(_CONCLUSION.search(self.text[self.sentence_start(pos) : pos]))

    def candidate(self, index: int, pos: int, kind: str, strong: bool = False) -> _Candidate:
        return _Candidate(
            index, pos, kind, self.is_conclusion(pos), self.sentence_start(pos), strong
        )


def _candidates(text: str, options: Sequence[str]) -> list[_Candidate]:
    label_res = [re.compile(_label_pattern(o), re.IGNORECASE) for o in options]
    text = _blank(text, _restated_line_spans(text))
    text = _blank(text, _restated_inline_spans(text, label_res))
    ctx = _Context(text)
    labels = _label_spans(text, label_res)

    def in_label(pos: int) -> bool:
        return any(s <= pos < e for s, e, _ in labels)

    letters: dict[int, int] = {}  # letter position -> option index
    strong: set[int] = set()
    rejected: set[int] = set()
    for start, pos, idx, explicit in _letter_hits(text):
        if idx >= len(options) or in_label(pos) or _is_article(text, pos):
            continue
        if _is_rejected(text, start, pos):
            rejected.add(pos)
        letters[pos] = idx
        if explicit:
            strong.add(pos)

    # A label right after its own letter ("C. Somewhat relevant") is that declaration.
    label_out = []
    for start, end, idx in labels:
        before = text[max(0, start - 8) : start]
        own_letter = re.search(rf"(?<![\w']){LETTERS[idx]}[ \t]*[.):\]\-–—]?[ \t]*$", before)
        letter_pos = start - len(before) + own_letter.start() if own_letter else -1
        if letter_pos in letters:
            strong.add(letter_pos)
            continue
        if _LABEL_GUARD.search(text[max(0, start - 20) : start]) or text[end:].startswith("?"):
            continue
        label_out.append(ctx.candidate(idx, start, "label"))
    out = [
        ctx.candidate(i, p, "declaration", p in strong)
        for p, i in letters.items()
        if p not in rejected
    ]
    return sorted(out + label_out, key=lambda c: c.start)


# --------------------------------------------------------------------------- #
# Step 7: decision
# --------------------------------------------------------------------------- #


# What may precede an opening choice: a short lead-in ("My response would be:"), markup,
# a restated statement in quotes; no finished sentence.
_MAX_LEAD_IN = 100


def _opening(text: str, candidates: Sequence[_Candidate]) -> _Candidate | None:
    """The answer's opening choice: its first candidate, when that is an explicit
    declaration made before any finished sentence of its own ("D. Moderately like
    you.", "My response would be: D", '"<the statement>" - B')."""
    first = candidates[0]
    if first.kind != "declaration" or not first.strong:
        return None
    lead = re.sub(r'"[^"\n]*"', " ", text[: first.start])
    if len(lead.strip()) > _MAX_LEAD_IN or _SENTENCE_END.search(lead):
        return None
    return first


def _decide(candidates: Sequence[_Candidate], text: str = "") -> int | None:
    """Option index chosen, or None when the candidates disagree (ambiguous)."""
    opening = _opening(text, candidates)
    if opening is not None:
        # the explicit opening choice wins over labels mentioned later (explanations
        # use the scale's words loosely); a later letter can still revise or contradict it
        candidates = [opening] + [
            c for c in candidates if c.kind == "declaration" and c.start > opening.start
        ]
    conclusions = [c for c in candidates if c.conclusion]
    if conclusions:
        last = conclusions[-1]
        chosen = {c.index for c in conclusions if c.sentence == last.sentence}
        later = {
            c.index
            for c in candidates
            if c.kind == "declaration" and not c.conclusion and c.start > last.start
        }
        return chosen.pop() if len(chosen) == 1 and later <= chosen else None
    declarations = [c for c in candidates if c.kind == "declaration"]
    pool = declarations or list(candidates)
    chosen = {c.index for c in pool}
    return chosen.pop() if len(chosen) == 1 else None


def parse_answer(text: str | None, options: Sequence[str]) -> ParsedAnswer:
    """Parse a free-text answer to the lettered options ``options`` (A = options[0]).

    Returns the letter and ``rating = position + 1`` in the shown order, or a
    ``reason`` (``empty``, ``refusal``, ``ambiguous``, ``no_option_found``).
    See the module docstring for the rules.
    """
    if not 2 <= len(options) <= len(LETTERS):
        raise ValueError(f"parse_answer: expected 2-{len(LETTERS)} options, got {len(options)}")
    if text is None or not text.strip():
        return ParsedAnswer(None, None, "empty")
    cleaned = _clean(text)
    candidates = _candidates(cleaned, options)
    index = _decide(candidates, cleaned) if candidates else None
    if index is not None:
        return ParsedAnswer(LETTERS[index], index + 1, None)
    if _REFUSAL.search(cleaned):
        return ParsedAnswer(None, None, "refusal")
    return ParsedAnswer(None, None, "ambiguous" if candidates else "no_option_found")
