"""Sample mode draws from the model's own distribution (issue 19, item 3)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from value_inertia.core.config import ModelParams
from value_inertia.core.protocol import EMBEDDED_SAMPLER, LOGPROBS, OPENAI_SAMPLER, SAMPLE
from value_inertia.design.questionnaires import OPTION_LETTERS
from value_inertia.evaluation.backends.base import Request, Result
from value_inertia.evaluation.backends.openai_wire import request_body

# A completion prompt on which SmolLM2-135M puts about half its next-token mass on the
# six letters, most of it on A: llama-cpp-python's default min_p 0.05 would cut B, C, E
# and F (each below 5 % of the top token) and sample only A and D.
PROMPT = (
    'Question: How much is this person like you? "It is important to them to be rich."\n'
    "A. Not like you at all\nB. Not like you\nC. A little like you\nD. Moderately like you\n"
    "E. Like you\nF. Very much like you\nAnswer:"
)
DRAWS = 1500


def test_sampler_settings_switch_every_truncation_off() -> None:
    assert LOGPROBS.sampler("embedded") is None and LOGPROBS.sampler("openai") is None
    embedded = SAMPLE.sampler("embedded")
    assert embedded == EMBEDDED_SAMPLER
    assert embedded["top_k"] == 0 and embedded["top_p"] == 1.0 and embedded["min_p"] == 0.0
    assert embedded["repeat_penalty"] == 1.0 and embedded["typical_p"] == 1.0
    assert embedded is not None and embedded is not EMBEDDED_SAMPLER  # a copy
    assert SAMPLE.sampler("openai") == OPENAI_SAMPLER == {"top_p": 1.0}


def test_embedded_sample_call_switches_llama_cpp_truncation_off() -> None:
    """The embedded backend's create_completion gets no top-k/top-p/min-p and no penalty
    (llama-cpp-python's own defaults would be top_k 40, top_p 0.95, min_p 0.05)."""
    from value_inertia.evaluation.backends.embedded import EmbeddedBackend

    calls: list[dict] = []

    class FakeLlama:
        def create_completion(self, **kwargs: object) -> dict:
            calls.append(kwargs)
            return {"choices": [{"text": " B", "finish_reason": "length"}], "usage": {}}

    backend = EmbeddedBackend.__new__(EmbeddedBackend)  # no model load: only the call
    backend.model = ModelParams(name="s", mode="sample")
    backend.llm = FakeLlama()
    result = backend._sample(Request(key="ab" * 32, payload={"prompt": "Q"}), "Q")
    assert result.text == " B"
    sent = calls[0]
    assert sent["top_k"] == 0 and sent["top_p"] == 1.0 and sent["min_p"] == 0.0
    assert sent["typical_p"] == 1.0 and sent["repeat_penalty"] == 1.0
    assert sent["temperature"] == 1.0 and sent["seed"] == int("ab" * 4, 16)


def test_openai_sample_requests_send_top_p_one() -> None:
    spec = {"name": "m", "backend": "openai", "base_url": "http://127.0.0.1:1/v1"}
    sample = ModelParams.model_validate({**spec, "mode": "sample"})
    _, body = request_body(sample, {"prompt": "Q?"}, n=2)
    assert body["top_p"] == 1.0 and body["n"] == 2 and body["temperature"] == 1.0
    _, body = request_body(ModelParams.model_validate(spec), {"prompt": "Q?"})
    assert "top_p" not in body  # logprobs: one token's distribution, no sampling


def test_sampler_is_part_of_the_sample_store_key_only() -> None:
    logprobs = ModelParams(name="m")
    assert "sampler" not in logprobs.identity()  # logprobs store keys stay as they were
    sample = ModelParams(name="m", mode="sample")
    assert sample.identity()["sampler"] == EMBEDDED_SAMPLER


@pytest.mark.slow
def test_sampled_letters_follow_the_logprobs_distribution() -> None:
    """Over many seeded draws of one token, the letters' frequencies (among draws that
    are a letter) match the logprobs-mode distribution of the same prompt: a chi-square
    goodness-of-fit test, bins with an expected count below 5 pooled."""
    from value_inertia.evaluation.backends.embedded import SMOLLM2_MODEL, EmbeddedBackend

    spec = ModelParams(name="s", model=SMOLLM2_MODEL, mode="sample", temperature=1.0, max_tokens=1)
    backend = EmbeddedBackend(spec, n_ctx=512, n_threads=2)
    try:
        probs, mass, _ = backend.letter_distribution(PROMPT)  # what logprobs mode records
        assert mass > 0.3
        letters = {t: i for i, letter in enumerate(OPTION_LETTERS) for t in (letter, f" {letter}")}
        results: list[Result] = []
        rng = np.random.default_rng(3)
        keys = [f"{int(k):016x}" + "0" * 48 for k in rng.integers(0, 2**63, size=DRAWS)]
        backend.run([Request(key=k, payload={"prompt": PROMPT}) for k in keys], results.append)
    finally:
        backend.close()
    assert all(r.status == "ok" for r in results)
    counts = np.zeros(len(OPTION_LETTERS))
    for r in results:
        if r.text in letters:
            counts[letters[r.text]] += 1
    n = counts.sum()
    assert n >= 0.3 * DRAWS  # about the letter mass
    expected = n * np.asarray(probs)
    order = np.argsort(expected)[::-1]
    big = [i for i in order if expected[i] >= 5]
    small = [i for i in order if expected[i] < 5]
    obs = [counts[i] for i in big] + ([counts[small].sum()] if small else [])
    exp = [expected[i] for i in big] + ([expected[small].sum()] if small else [])
    test = stats.chisquare(obs, exp)
    assert test.pvalue > 0.001, (counts, np.round(expected, 1))
    # and the rare letters do come up (a min-p truncation would never draw them)
    assert counts[[1, 2, 4, 5]].sum() >= 0.5 * expected[[1, 2, 4, 5]].sum()
