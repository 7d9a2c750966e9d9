"""Tests for the rule-based answer parser (value_inertia.scoring.parsing)."""

from __future__ import annotations

import pytest

from value_inertia.scoring.parsing import LETTERS, ParsedAnswer, parse_answer

RELEVANCE = [
    "Not at all relevant",
    "Not very relevant",
    "Slightly relevant",
    "Somewhat relevant",
    "Very relevant",
    "Extremely relevant",
]
AGREEMENT = [
    "Strongly disagree",
    "Moderately disagree",
    "Slightly disagree",
    "Slightly agree",
    "Moderately agree",
    "Strongly agree",
]
PVQ = [
    "Not like you at all",
    "Not like you",
    "A little like you",
    "Moderately like you",
    "Like you",
    "Very much like you",
]
PVQ_LIST = "\n".join(f"{letter}. {label}" for letter, label in zip(LETTERS, PVQ, strict=True))
REL_LIST = "\n".join(f"{letter}) {label}" for letter, label in zip(LETTERS, RELEVANCE, strict=True))

# (id, options, answer text, expected rating (int) or reason (str))
CASES = [
    # --- bare letters -------------------------------------------------------
    ("bare-upper", PVQ, "B", 2),
    ("bare-lower-paren", PVQ, "b)", 2),
    ("bare-with-period", RELEVANCE, "  E.  ", 5),
    ("bare-lower-a", AGREEMENT, "a", 1),
    ("bare-quoted", AGREEMENT, '"F"', 6),
    # --- letter + label, brackets, keywords ----------------------------------
    ("letter-dot-label", PVQ, "B. Not like you", 2),
    ("paren-letter", RELEVANCE, "(C)", 3),
    ("paren-letter-in-prose", RELEVANCE, "I would go for (D) here.", 4),
    ("option-upper", AGREEMENT, "Option D", 4),
    ("option-lower", AGREEMENT, "option d", 4),
    ("answer-colon", PVQ, "Answer: E", 5),
    ("my-answer-is", PVQ, "My answer is F.", 6),
    ("i-choose", RELEVANCE, "I choose A.", 1),
    ("ill-go-with", AGREEMENT, "I'll go with option C because it fits best.", 3),
    ("letter-is-my-answer", PVQ, "C is my answer.", 3),
    ("bracket-letter", AGREEMENT, "[B]", 2),
    # --- markdown -------------------------------------------------------------
    ("bold-letter", RELEVANCE, "**C**", 3),
    ("bold-letter-label", RELEVANCE, "**C. Slightly relevant**", 3),
    ("bold-answer-line", PVQ, "**Answer:** **D. Moderately like you**", 4),
    ("heading-answer", AGREEMENT, "## Answer\n\nE", 5),
    # --- labels without a letter (case, pronouns, substrings) ------------------
    ("label-pronoun-me", PVQ, "Honestly, this is very much like me.", 6),
    ("label-not-like-me", PVQ, "This is not like me.", 2),
    ("label-not-like-me-at-all", PVQ, "That is not like me at all.", 1),
    ("label-a-little", PVQ, "A little like me, I suppose.", 3),
    ("label-like-you-exact", PVQ, "like you", 5),
    ("label-upper-case", RELEVANCE, "NOT VERY RELEVANT", 2),
    ("label-i-strongly-agree", AGREEMENT, "I strongly agree with this statement.", 6),
    ("label-slightly-disagree", AGREEMENT, "I slightly disagree.", 3),
    ("label-slightly-agree", AGREEMENT, "I would slightly agree.", 4),
    ("label-extremely", RELEVANCE, "For me this is extremely relevant.", 6),
    ("label-very-not-not-very", RELEVANCE, "It is very relevant to my judgement.", 5),
    ("label-somewhat-like-me-is-not-like-you", PVQ, "It is somewhat like me.", "no_option_found"),
    ("label-as-question", PVQ, "Like me? Not really.", "no_option_found"),
    ("label-negated", AGREEMENT, "I don't strongly agree.", "no_option_found"),
    # --- long answers: explanation first, choice at the end ---------------------
    (
        "explain-then-therefore",
        PVQ,
        "As a retired farmer who values tradition, security matters to me. However, "
        "I also enjoy some freedom. Option A seems too extreme. Therefore, my answer is D.",
        4,
    ),
    (
        "explain-then-final-line",
        RELEVANCE,
        "Considering my background as a nurse, fairness is central to how I judge people.\n\nE",
        5,
    ),
    (
        "explain-then-label-conclusion",
        AGREEMENT,
        "Loyalty to one's group matters, but not above all else. "
        "So overall, I would say I moderately agree.",
        5,
    ),
    (
        "considered-then-final-answer",
        RELEVANCE,
        "B might fit, but thinking it over, Final answer: D. Somewhat relevant",
        4,
    ),
    # --- restated option lists -------------------------------------------------
    ("restated-list-then-choice", PVQ, PVQ_LIST + "\nI choose C.", 3),
    ("restated-list-paren-then-bold", RELEVANCE, REL_LIST + "\n\nMy answer: **F**", 6),
    (
        "restated-inline-then-choice",
        AGREEMENT,
        "The options are A. Strongly disagree, B. Moderately disagree, C. Slightly "
        "disagree, D. Slightly agree, E. Moderately agree, F. Strongly agree. I pick E.",
        5,
    ),
    (
        "restated-list-with-notes",
        RELEVANCE,
        "A - no\nB - no\n\nC - maybe\nD - yes\nE - no\nF - no\nMy answer is D.",
        4,
    ),
    ("restated-letters-range", PVQ, "Choosing among A-F, I'd say B.", 2),
    ("restated-list-only", PVQ, PVQ_LIST, "no_option_found"),
    # --- ambiguity ---------------------------------------------------------------
    ("b-or-c", PVQ, "B or C", "ambiguous"),
    ("either-a-or-d", RELEVANCE, "Either A or D would describe me.", "ambiguous"),
    ("actually-also", AGREEMENT, "A. Strongly disagree. Actually also E.", "ambiguous"),
    ("two-declarations", PVQ, "My answer is B. I choose E.", "ambiguous"),
    ("two-labels", AGREEMENT, "I slightly agree, or maybe strongly agree.", "ambiguous"),
    ("conclusion-with-two", RELEVANCE, "Hard to say. Therefore, B or C.", "ambiguous"),
    ("lowercase-alternatives", PVQ, "maybe b or c", "ambiguous"),
    # --- agreement of several statements / rejected letters ------------------------
    ("consistent-repeats", PVQ, "Answer: B\n\nB. Not like you", 2),
    ("rejected-rather-than", AGREEMENT, "I choose C rather than D.", 3),
    ("rejected-not", RELEVANCE, "Not A, but B.", 2),
    ("rejected-too-strong", PVQ, "F would be too strong; I choose E.", 5),
    ("rejected-is-not", PVQ, "Option A is not right for me, option B is.", 2),
    # --- articles and pronouns are not letters ---------------------------------------
    ("article-a-in-prose", RELEVANCE, "A person like me finds this slightly relevant.", 3),
    ("pronoun-i", AGREEMENT, "I think I agree, but I am not sure.", "no_option_found"),
    # --- refusals, empty --------------------------------------------------------
    ("refusal-cannot", PVQ, "I cannot answer this question.", "refusal"),
    (
        "refusal-as-an-ai",
        AGREEMENT,
        "As an AI, I don't have personal beliefs or opinions.",
        "refusal",
    ),
    ("refusal-sorry", RELEVANCE, "I'm sorry, but I can't help with that.", "refusal"),
    ("refusal-but-answers", PVQ, "As an AI I have no persona, but if I must: C", 3),
    ("empty-none", PVQ, None, "empty"),
    ("empty-whitespace", PVQ, "   \n\t ", "empty"),
    ("no-option", RELEVANCE, "That is an interesting question about morality.", "no_option_found"),
    # --- real PVQ-RR answer shapes (issue 11): the opening choice wins over labels ---
    (
        "opening-choice-vs-later-label-conclusion",
        PVQ,
        "D. Moderately like you.\n\nAs a 52-year-old shop owner I do care about how people "
        "see me, but I don't lose sleep over it. Ultimately, it's like me to let my work "
        "speak for itself.",
        4,
    ),
    (
        "opening-choice-vs-later-very-much-like-me",
        PVQ,
        "My response would be: D. Moderately like you\n\nAs a retired nurse from Manila I "
        "enjoy a good time with my grandchildren, but pleasure is not what drives me. "
        "Overall, family gatherings are very much like me, partying is not.",
        4,
    ),
    (
        "opening-first-person-label",
        PVQ,
        "D. Moderately like me.\n\nI follow most rules, though some feel pointless. So in "
        "the end, I'd say that never breaking a rule is like me only at work.",
        4,
    ),
    (
        "opening-bold-letter-label",
        PVQ,
        "**D. Moderately like you.**\n\nWhile adventure appeals to me, I'm a creature of "
        "habit. So, looking for different things to do is like me on holidays.",
        4,
    ),
    (
        "opening-choice-label-mentions-other-scale-points",
        PVQ,
        "F. Very much like you\n\nCaring for the people close to me is who I am. It is not "
        "like me to leave a friend alone, and even 'a little like me' would understate it.",
        6,
    ),
    (
        "opening-choice-resonates-moderately",
        PVQ,
        "E. Like you. As an engineer I respect regulations, and the idea of never "
        "violating them resonates with me moderately; therefore, moderately like me "
        "would be too weak.",
        5,
    ),
    (
        "quoted-statement-then-choice",
        PVQ,
        '"It is important to you to be wealthy."\n\nB. Not like you. Money has never '
        "been what drives me.",
        2,
    ),
    (
        "quoted-statement-dash-letter",
        PVQ,
        '"It is important to you to have ambitions in life." - E',
        5,
    ),
    (
        "single-quoted-statement-and-choice",
        PVQ,
        "When I read 'It is important to you to be wealthy', my answer is 'B'.",
        2,
    ),
    (
        "single-quoted-label-in-prose",
        PVQ,
        "Having raised four children on a farm, I'd describe this as 'Moderately like you'.",
        4,
    ),
    ("respond-with", PVQ, "Considering my career in the army, I would respond with E.", 5),
    (
        "opening-choice-then-revised-conclusion",
        PVQ,
        "B. Not like you. On reflection, as a union organiser I do want people to follow "
        "my lead. Final answer: C.",
        3,
    ),
    (
        "opening-choice-then-second-choice",
        PVQ,
        "C. A little like you. I could also see myself choosing E.",
        "ambiguous",
    ),
    # --- a declared choice after a role-play preamble (issue 19): it wins over the label
    # words of the explanation, wherever it stands; two declared options are ambiguous ---
    (
        "preamble-respond-with-option-then-conclusion-label",
        PVQ,
        "Based on the information provided, I would respond with option D. Moderately like "
        "you. As someone born in Peru who works part-time, I have some concern for my "
        "safety. Overall, worrying about it is a little like me, not very much like me.",
        4,
    ),
    (
        "preamble-sentence-then-respond-colon-line",
        PVQ,
        "As a 52-year-old widowed father of two living in Canada, family matters most. I "
        "would respond:\n\nF. Very much like you\n\nAs a 52-year-old widowed father, keeping "
        "my children close is who I am; therefore, it is like me to put them first.",
        6,
    ),
    (
        "preamble-then-respond-colon-line-then-so-label",
        PVQ,
        "Thinking about my life as a retired teacher in Lagos. I would respond:\n\nB. Not "
        "like you\n\nChasing wealth was never who I was. So it is not like me at all.",
        2,
    ),
    (
        "preamble-response-would-be-then-thus-label",
        PVQ,
        "I am a 34-year-old nurse. Considering my values, my response would be: C. A little "
        "like you. Thus, while success matters to me, it is very much like me to put "
        "patients first.",
        3,
    ),
    (
        "preamble-label-quoted-as-the-answer",
        PVQ,
        'Given my background as a farmer, my answer is "Moderately like you". Tradition is '
        "like me in some ways; it is not very much like me to follow every custom.",
        4,
    ),
    (
        "preamble-i-would-choose-option-then-ultimately-label",
        PVQ,
        "I'm a 60-year-old Buddhist from Thailand. Reflecting on this, I would choose option "
        "E. Like you. Ultimately, helping others is very much like me.",
        5,
    ),
    (
        "preamble-i-would-say-letter-then-overall-label",
        RELEVANCE,
        "I grew up in a small village where elders are respected. I would say D. Somewhat "
        "relevant. Overall, respect for tradition is extremely relevant to my family.",
        4,
    ),
    (
        "preamble-two-declared-options",
        PVQ,
        "As a young engineer, I would respond with option B. Not like you. On second "
        "thought I would choose option E.",
        "ambiguous",
    ),
    (
        "declared-label-and-declared-other-letter",
        AGREEMENT,
        'My response would be "Slightly agree", though I choose B in the end.',
        "ambiguous",
    ),
]


@pytest.mark.parametrize(
    ("options", "text", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_parse_answer_table(options, text, expected):
    result = parse_answer(text, options)
    if isinstance(expected, int):
        assert result == ParsedAnswer(LETTERS[expected - 1], expected, None)
    else:
        assert result == ParsedAnswer(None, None, expected)


def test_table_is_large_enough():
    assert len(CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)


TEMPLATES = [
    "{L}",
    "{l})",
    "({L})",
    "**{L}**",
    "Option {L}",
    "option {l}",
    "Answer: {L}",
    "My answer is {L}.",
    "I choose {L}.",
    "{L}. {label}",
    "**{L}. {label}**",
    "After weighing everything about my background, therefore, my answer is {L}.",
    "{listing}\nI choose {L}.",
]


@pytest.mark.parametrize("options", [RELEVANCE, AGREEMENT, PVQ], ids=["rel", "agree", "pvq"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_letter_every_template(options, template):
    listing = "\n".join(f"{x}. {o}" for x, o in zip(LETTERS, options, strict=True))
    for position, letter in enumerate(LETTERS):
        text = template.format(L=letter, l=letter.lower(), label=options[position], listing=listing)
        result = parse_answer(text, options)
        assert (result.letter, result.rating, result.reason) == (letter, position + 1, None), text


@pytest.mark.parametrize("options", [RELEVANCE, AGREEMENT, PVQ], ids=["rel", "agree", "pvq"])
def test_every_label_alone_and_in_a_sentence(options):
    for position, label in enumerate(options):
        for text in (label, label.lower(), f"I would say: {label.upper()}."):
            assert parse_answer(text, options).rating == position + 1, text


def test_shuffled_options_give_shown_position():
    shuffled = [PVQ[i] for i in (5, 4, 3, 2, 1, 0)]
    assert parse_answer("very much like me", shuffled).letter == "A"
    assert parse_answer("very much like me", shuffled).rating == 1
    assert parse_answer("F", shuffled).rating == 6


def test_ok_property_and_wrong_option_count():
    assert parse_answer("B", PVQ).ok
    assert not parse_answer("", PVQ).ok
    with pytest.raises(ValueError, match="options"):
        parse_answer("B", ["only one"])
