"""Protocol identity: what changes the hash and what does not."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import get_args

import pytest

from value_inertia.core.config import ModelParams, Params
from value_inertia.core.errors import InputError
from value_inertia.core.protocol import (
    ANSWER_MODES,
    LOGPROBS,
    PARSER_VERSION,
    SAMPLE,
    answer_mode,
    protocol_for,
    protocol_hash,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    for rel in ("data/questionnaires", "data/schemas"):
        shutil.copytree(REPO / rel, tmp_path / rel)
    return tmp_path


def params(**changes: dict) -> Params:
    base = Params().model_dump(by_alias=True)
    for section, values in changes.items():
        if section == "model":
            base["models"][0].update(values)
        else:
            base[section].update(values)
    return Params.model_validate(base, context={"root": REPO})


def h(p: Params, root: Path, q: str = "mfq30", variant: str = "original") -> str:
    return protocol_for(p, p.models[0].name, q, variant, root).hash


def test_hash_is_16_hex_of_the_canonical_fields(root: Path) -> None:
    proto = protocol_for(params(), "gemma3-270m", "mfq30", "original", root)
    assert len(proto.hash) == 16 and int(proto.hash, 16) >= 0
    canonical = json.dumps(proto.fields, sort_keys=True, separators=(",", ":"))
    assert proto.hash == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert proto.hash == protocol_hash(proto.fields)
    qbytes = (root / "data/questionnaires/mfq30.yaml").read_bytes()
    assert proto.fields["questionnaire"]["file"] == "sha256:" + hashlib.sha256(qbytes).hexdigest()
    assert proto.fields["parse"]["parser_version"] == str(PARSER_VERSION)
    assert proto.fields["prompts"]["variant"] == "original"
    assert "questionnaires" not in proto.fields["prompts"]
    json.dumps(proto.fields)  # readable, JSON-ready
    # the same settings give the same hash
    assert h(params(), root) == proto.hash


@pytest.mark.parametrize(
    "change",
    [
        {"personas": {"n": 11}},
        {"personas": {"seeds": [111, 333]}},
        {"prompts": {"preamble": False}},
        {"prompts": {"preamble_text": "Pretend."}},
        {"prompts": {"forced_choice": False}},
        {"prompts": {"shuffle_options": True}},
        {"prompts": {"shuffle_seed": 3}},
        {"prompts": {"repeats": 2, "shuffle_options": True}},
        {"analyze": {"confidence": 0.9}},
        {"analyze": {"bootstrap": 2000}},
        {"model": {"mode": "sample"}},
        {"model": {"mode": "sample", "temperature": 0.7}},
    ],
    ids=lambda c: json.dumps(c),
)
def test_what_is_measured_changes_the_hash(root: Path, change: dict) -> None:
    assert h(params(**change), root) != h(params(), root)


def test_files_variant_and_questionnaire_change_the_hash(root: Path) -> None:
    before = h(params(), root)
    assert h(params(), root, variant="shuffled") != before
    assert h(params(), root, q="pvqrr") != before
    schema = root / "data/schemas/persona_attributes.yaml"
    schema.write_text(schema.read_text() + "\n# edited\n")
    after_schema = h(params(), root)
    assert after_schema != before
    qfile = root / "data/questionnaires/mfq30.yaml"
    qfile.write_bytes(qfile.read_bytes() + b"\n")
    assert h(params(), root) != after_schema


def test_sample_settings_count_only_in_sample_mode(root: Path) -> None:
    logprobs = h(params(), root)
    assert h(params(model={"max_tokens": 256}), root) == logprobs
    assert h(params(model={"samples": 3}), root) == logprobs
    # logprobs are the raw next-token distribution whatever the sampler's temperature
    assert h(params(model={"temperature": 0.7}), root) == logprobs
    sample_t1 = h(params(model={"mode": "sample", "temperature": 1.0}), root)
    assert h(params(model={"mode": "sample", "temperature": 0.7}), root) != sample_t1
    sample = params(model={"mode": "sample"})
    assert h(params(model={"mode": "sample", "max_tokens": 256}), root) != h(sample, root)
    assert h(params(model={"mode": "sample", "samples": 3}), root) != h(sample, root)


def test_logprobs_repeats_count_only_where_the_prompt_changes_with_the_repeat(
    root: Path,
) -> None:
    """Logprobs repeats of one prompt are one deterministic request: not in the hash."""
    base = h(params(), root)
    assert h(params(prompts={"repeats": 3}), root) == base
    assert h(params(prompts={"baseline_repeats": 3}), root) == base
    # each repeat of a shuffled prompt shows another option order: a real measurement
    shuffled = h(params(), root, variant="shuffled")
    assert h(params(prompts={"repeats": 3}), root, variant="shuffled") != shuffled
    # sample mode: every repeat is another draw
    sample = {"mode": "sample"}
    assert h(params(model=sample, prompts={"repeats": 3}), root) != h(params(model=sample), root)


def test_sampler_settings_and_intervals_are_in_the_protocol(root: Path) -> None:
    sample = protocol_for(
        params(model={"mode": "sample"}), "gemma3-270m", "mfq30", "original", root
    )
    sampler = sample.fields["answers"]["sampler"]
    assert sampler["top_k"] == 0 and sampler["top_p"] == 1.0 and sampler["min_p"] == 0.0
    assert sampler["repeat_penalty"] == 1.0
    logprobs = protocol_for(params(), "gemma3-270m", "mfq30", "original", root)
    assert logprobs.fields["answers"]["sampler"] is None
    assert logprobs.fields["intervals"] == {"confidence": 0.95, "bootstrap": 1000}
    api = params(model={"mode": "sample", "backend": "openai", "base_url": "http://x/v1"})
    openai = protocol_for(api, "gemma3-270m", "mfq30", "original", root)
    assert openai.fields["answers"]["sampler"] == {"top_p": 1.0}


def test_model_identity_and_run_settings_do_not_change_the_hash(root: Path) -> None:
    base = h(params(), root)
    renamed = params(model={"name": "other", "model": "other-weights", "concurrency": 4})
    assert h(renamed, root) == base
    # chat vs completions is how a chat or a base model gets the same prompt content
    assert h(params(model={"api": "chat"}), root) == base
    assert h(params(prompts={"questionnaires": ["mfq30"]}), root) == base
    assert h(params(analyze={"seed": 3, "permutations": 500}), root) == base


def test_letter_mass_gate_is_read_when_present(root: Path) -> None:
    p = params()
    proto = protocol_for(p, "gemma3-270m", "mfq30", "original", root)
    gate = getattr(p.parse, "min_letter_mass", None)
    assert proto.fields["parse"]["min_letter_mass"] == gate


def test_missing_files_are_named(root: Path) -> None:
    (root / "data/questionnaires/mfq30.yaml").unlink()
    with pytest.raises(InputError, match=r"mfq30\.yaml: questionnaire file not found"):
        protocol_for(params(), "gemma3-270m", "mfq30", "original", root)


def judged(judge_model: str | None, scope: str = "unparsed", judge_name: str = "judge") -> Params:
    """One sample-mode model and one judge model, the judge named by ``parse.judge``."""
    base = Params().model_dump(by_alias=True)
    answerer = {**base["models"][0], "name": "answerer", "mode": "sample"}
    judge = {**base["models"][0], "name": judge_name, "model": judge_model or "judge-weights"}
    base["models"] = [answerer, judge]
    base["parse"].update(judge=judge_name if judge_model else None, judge_scope=scope)
    return Params.model_validate(base, context={"root": REPO})


def test_the_judge_of_sample_answers_is_part_of_the_protocol(root: Path) -> None:
    def sample_hash(p: Params) -> str:
        return protocol_for(p, "answerer", "mfq30", "original", root).hash

    rules_only = sample_hash(judged(None))
    # no judge: the hash results read by the rules always had (no new key)
    proto = protocol_for(judged(None), "answerer", "mfq30", "original", root)
    assert "judge" not in proto.fields["parse"]
    judged_a = sample_hash(judged("judge-a"))
    assert judged_a != rules_only
    assert sample_hash(judged("judge-b")) != judged_a  # another judge model
    assert sample_hash(judged("judge-a", scope="all")) != judged_a  # it reads every answer
    assert sample_hash(judged("judge-a", judge_name="renamed")) == judged_a  # a name only
    fields = protocol_for(judged("judge-a"), "answerer", "mfq30", "original", root).fields
    assert fields["parse"]["judge"]["model"]["model"] == "judge-a"
    # a logprobs-mode result is not read by the judge: its hash does not move
    p = judged("judge-a")
    logprobs = p.model_copy(update={"parse": p.parse.model_copy(update={"judge": None})})
    assert protocol_for(p, "judge", "mfq30", "original", root).hash == (
        protocol_for(logprobs, "judge", "mfq30", "original", root).hash
    )


# -- the answer modes ------------------------------------------------------------------
def test_a_model_names_its_answer_mode() -> None:
    assert ModelParams(name="m").answer_mode is LOGPROBS
    assert ModelParams(name="m", mode="sample").answer_mode is SAMPLE
    # one mode object per value params.yaml allows
    assert tuple(ANSWER_MODES) == get_args(ModelParams.model_fields["mode"].annotation)
    assert answer_mode("sample") is SAMPLE
    with pytest.raises(ValueError, match="unknown answer mode 'greedy'; allowed: logprobs, sample"):
        answer_mode("greedy")


def test_what_a_request_asks_for_differs_by_mode() -> None:
    # logprobs: one letter token, the top logprobs, one deterministic draw per prompt
    assert LOGPROBS.letter_logprobs and not LOGPROBS.reads_text and LOGPROBS.has_letter_mass
    assert LOGPROBS.request_max_tokens(256) == 1 and LOGPROBS.request_top_logprobs(20) == 20
    assert LOGPROBS.draws_per_prompt(5) == 1
    assert [LOGPROBS.draw_index(r, 1, 0) for r in range(3)] == [0, 0, 0]
    # sample: free text up to max_tokens, `samples` draws per repeat, each its own key
    assert SAMPLE.reads_text and not SAMPLE.letter_logprobs and not SAMPLE.has_letter_mass
    assert SAMPLE.request_max_tokens(256) == 256 and SAMPLE.request_top_logprobs(20) is None
    assert SAMPLE.draws_per_prompt(3) == 3
    assert [SAMPLE.draw_index(r, 2, s) for r in range(2) for s in range(2)] == [0, 1, 2, 3]


def test_time_and_token_estimates_differ_by_mode() -> None:
    assert LOGPROBS.fixed_tokens_out == 1 and LOGPROBS.tokens_out_prior(256) == 1.0
    assert SAMPLE.fixed_tokens_out is None and SAMPLE.tokens_out_prior(256) == 256.0


def test_repeats_count_for_drawn_answers_or_a_prompt_that_changes() -> None:
    assert SAMPLE.repeats_in_protocol(False) and SAMPLE.repeats_in_protocol(True)
    assert not LOGPROBS.repeats_in_protocol(False) and LOGPROBS.repeats_in_protocol(True)


def test_each_mode_hashes_its_own_answer_fields() -> None:
    logprobs = ModelParams(name="m", temperature=0.3, max_tokens=64, samples=4)
    assert LOGPROBS.protocol_answers(logprobs) == {
        "mode": "logprobs",
        "temperature": None,
        "max_tokens": None,
        "samples": None,
        "sampler": None,
    }
    sample = ModelParams(name="m", mode="sample", samples=4)
    assert SAMPLE.protocol_answers(sample) == {
        "mode": "sample",
        "temperature": 1.0,
        "max_tokens": 256,
        "samples": 4,
        "sampler": SAMPLE.sampler("embedded"),
    }


def test_sample_mode_defaults_come_from_the_mode() -> None:
    assert dict(SAMPLE.defaults) == {"temperature": 1.0, "max_tokens": 256}
    sample = ModelParams(name="m", mode="sample")
    assert (sample.temperature, sample.max_tokens) == (1.0, 256)
    assert ModelParams(name="m", mode="sample", max_tokens=8).max_tokens == 8  # params win
    logprobs = ModelParams(name="m")
    assert (logprobs.temperature, logprobs.max_tokens) == (0.0, 32)
    with pytest.raises(ValueError, match="mode"):  # an unknown mode: the field's own error
        ModelParams.model_validate({"name": "m", "mode": ["sample"]})
