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
   of the label. A label straight after a declaration phrase ('my answer is
   "Moderately like you"', "I would respond: Like you") is a *declared label*.
6. **Conclusions.** A declaration or label whose sentence (text since the last
   ``.``, ``!`` or ``?``) contains a conclusion marker ("final answer",
   "therefore", "thus", "so my answer", "in conclusion", "overall",
   "ultimately", a sentence starting with "So", ...) is a conclusion; so is a
   final line that is only a letter, after other text.
7. **Decision.**
   - **A declared choice wins over label words.** When the answer declares a
     choice explicitly (a keyword declaration such as "I would respond with
     option D" or "my response would be: C", a line that opens with a letter,
     a letter followed by its own label, a declared label), wherever it stands
     (after a sentence or two of role-play preamble too), label mentions that
     are not declared are ignored: an explanation uses the scale's words
     loosely ("overall, it's very much like me to ..."). Every declared letter
     and declared label still counts: a later conclusion ("Final answer: C")
     revises the choice, another declared option makes it ambiguous.
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

from value_inertia.scoring.answer_text import (
    BARE_LINE,
    CONCLUSION,
    DECLARED_LABEL,
    LABEL_GUARD,
    LETTERS,
    REFUSAL,
    SENTENCE_END,
    blank,
    clean,
    is_article,
    is_rejected,
    label_pattern,
    label_spans,
    letter_hits,
    restated_inline_spans,
    restated_line_spans,
)

# Bump value_inertia.core.protocol.PARSER_VERSION whenever a change here can turn the same
# text into a different rating, so results of two parsers never rank together.


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


class _Context:
    """Sentence boundaries and conclusion markers of one cleaned text."""

    def __init__(self, text: str):
        self.text = text
        self.ends = [m.end() for m in SENTENCE_END.finditer(text)]
        stripped = text.rstrip()
        last_line_start = stripped.rfind("\n") + 1
        final = BARE_LINE.match(stripped, last_line_start)
        self.final_letter_pos = (
            final.start("letter") if final and text[:last_line_start].strip() else -1
        )

    def sentence_start(self, pos: int) -> int:
        i = bisect.bisect_right(self.ends, pos) - 1
        return self.ends[i] if i >= 0 else 0

    def is_conclusion(self, pos: int) -> bool:
        if pos == self.final_letter_pos:
            return True
        return bool(CONCLUSION.search(self.text[self.sentence_start(pos) : pos]))

    def candidate(self, index: int, pos: int, kind: str, strong: bool = False) -> _Candidate:
        return _Candidate(
            index, pos, kind, self.is_conclusion(pos), self.sentence_start(pos), strong
        )


def _candidates(text: str, options: Sequence[str]) -> list[_Candidate]:
    label_res = [re.compile(label_pattern(o), re.IGNORECASE) for o in options]
    text = blank(text, restated_line_spans(text))
    text = blank(text, restated_inline_spans(text, label_res))
    ctx = _Context(text)
    labels = label_spans(text, label_res)

    def in_label(pos: int) -> bool:
        return any(s <= pos < e for s, e, _ in labels)

    letters: dict[int, int] = {}  # letter position -> option index
    strong: set[int] = set()
    rejected: set[int] = set()
    for start, pos, idx, explicit in letter_hits(text):
        if idx >= len(options) or in_label(pos) or is_article(text, pos):
            continue
        if is_rejected(text, start, pos):
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
        if LABEL_GUARD.search(text[max(0, start - 20) : start]) or text[end:].startswith("?"):
            continue
        declared = bool(DECLARED_LABEL.search(text[max(0, start - 40) : start]))
        label_out.append(ctx.candidate(idx, start, "label", declared))
    out = [
        ctx.candidate(i, p, "declaration", p in strong)
        for p, i in letters.items()
        if p not in rejected
    ]
    return sorted(out + label_out, key=lambda c: c.start)


# --------------------------------------------------------------------------- #
# Step 7: decision
# --------------------------------------------------------------------------- #


def _decide(candidates: Sequence[_Candidate]) -> int | None:
    """Option index chosen, or None when the candidates disagree (ambiguous)."""
    if any(c.strong for c in candidates):
        # an explicit declaration wins over label words of the explanation (which use the
        # scale's words loosely); every declared letter and declared label still counts
        candidates = [c for c in candidates if c.kind == "declaration" or c.strong]
    conclusions = [c for c in candidates if c.conclusion]
    if conclusions:
        last = conclusions[-1]
        chosen = {c.index for c in conclusions if c.sentence == last.sentence}
        later = {
            c.index
            for c in candidates
            if (c.kind == "declaration" or c.strong) and not c.conclusion and c.start > last.start
        }
        return chosen.pop() if len(chosen) == 1 and later <= chosen else None
    declared = [c for c in candidates if c.kind == "declaration" or c.strong]
    pool = declared or list(candidates)
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
    cleaned = clean(text)
    candidates = _candidates(cleaned, options)
    index = _decide(candidates) if candidates else None
    if index is not None:
        return ParsedAnswer(LETTERS[index], index + 1, None)
    if REFUSAL.search(cleaned):
        return ParsedAnswer(None, None, "refusal")
    return ParsedAnswer(None, None, "ambiguous" if candidates else "no_option_found")
