"""Every example in README.md works when pasted.

- Each ```yaml block, merged in order into the repository's params.yaml (a block is a
  fragment of params.yaml: the keys it shows, under the sections it names), validates
  against the params schema (core/config.py).
- Each `dvc exp run -S ...` (in a block or inline) applies to params.yaml (or to the
  preset the same line copies over it) and validates: a renamed key fails here.
- Each `value-inertia <command> ...` names a command that exists, with options it takes.
- The cheap commands run for real in a copy of the project: `value-inertia validate` and
  the README's `value-inertia plan -S ...`.
- Every other shell line is listed in NOT_RUN with the reason, so a new example needs a
  decision here.
"""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.main import get_command

from tests.conftest import REPO, make_project, run_cli
from value_inertia.cli import app
from value_inertia.core.config import ConfigError, Params, load_params
from value_inertia.core.yamlio import apply_overrides
from value_inertia.validation import check_models_mapping

README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCKS = [
    (m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", README, re.S | re.M)
]
SHELL_LINES = [
    line.split("  #")[0].strip()
    for lang, body in BLOCKS
    if lang in ("bash", "sh", "text")
    for line in body.splitlines()
    if line.strip()
]
INLINE = re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", README, flags=re.S | re.M))

# shell lines that are not run here, and why (a line is matched by its start)
NOT_RUN = {
    "python3 -m venv": "creates a virtual environment (the install)",
    'CMAKE_ARGS="-DLLAVA_BUILD=OFF" pip install': "the install itself",
    "dvc repro": "the whole pipeline (minutes): benchmarks/bench_full_run.py",
    "git add dvc.lock": "commits in the user's repository",
    "python -m pytest": "the test suite itself",
    "dvc exp run": "runs the pipeline; its -S overrides are validated below",
    "value-inertia batch": "needs a model's requests and a batch output file",
    "vllm run-batch": "needs vLLM and a GPU",
    "value-inertia evaluate": "sends requests (tests/test_evaluate.py runs it)",
    "cp presets/paper.yaml params.yaml": "overwrites params.yaml; its -S overrides are "
    "validated below against the preset",
    "git checkout params.yaml": "restores the user's params.yaml",
    "dvc exp show": "compares experiments: tests/test_pipeline_dvc.py runs the sequence",
    "dvc metrics diff": "compares experiments: tests/test_pipeline_dvc.py runs the sequence",
    "dvc plots diff": "compares experiments: tests/test_pipeline_dvc.py runs the sequence",
    "python -m leaderboard": "starts the app server (tests/test_app_browser.py)",
}
RUN = ("value-inertia validate", "value-inertia plan")


def _merge(base: dict, fragment: dict) -> dict:
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _yaml_blocks() -> list[str]:
    return [body for lang, body in BLOCKS if lang == "yaml"]


def test_the_readme_has_examples_to_check() -> None:
    assert len(_yaml_blocks()) >= 2 and len(SHELL_LINES) >= 10


def test_every_yaml_example_is_a_valid_part_of_params_yaml() -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for body in _yaml_blocks():
        fragment = yaml.safe_load(body)  # pasting it: valid YAML
        assert isinstance(fragment, dict), body
        unknown = set(fragment) - set(Params.model_fields)
        assert not unknown, f"not params.yaml sections: {unknown}\n{body}"
        _merge(params, fragment)
        check_models_mapping(params, "README.md")
        Params.model_validate(params, context={"root": REPO})


def _overrides(line: str) -> list[str]:
    tokens = shlex.split(line)
    return [tokens[i + 1] for i, t in enumerate(tokens[:-1]) if t in ("-S", "--set-param")]


def test_every_dvc_exp_run_override_in_the_readme_validates() -> None:
    lines = [x for x in SHELL_LINES + INLINE if "dvc exp run" in x and "-S" in x]
    assert len(lines) >= 3
    for line in lines:
        preset = re.search(r"cp (presets/\S+\.yaml) params\.yaml", line)
        base = REPO / (preset.group(1) if preset else "params.yaml")
        data = apply_overrides(yaml.safe_load(base.read_text()), _overrides(line))
        check_models_mapping(data, line)
        Params.model_validate(data, context={"root": REPO})


def test_every_value_inertia_command_in_the_readme_exists_with_its_options() -> None:
    group = get_command(app)
    lines = [x for x in SHELL_LINES + INLINE if x.startswith("value-inertia ")]
    assert len(lines) >= 5
    for line in lines:
        tokens = [t for t in shlex.split(line.split(" # ")[0]) if t not in ("...",)]
        if tokens[1].startswith("-"):  # an option of the command itself (--help)
            assert tokens[1] in {o for p in group.params for o in p.opts} | {"--help"}, line
            continue
        command = group.commands.get(tokens[1])  # type: ignore[attr-defined]
        assert command is not None, f"README: no command {tokens[1]!r} in {line!r}"
        rest = tokens[2:]
        if hasattr(command, "commands") and rest and rest[0] in command.commands:
            command, rest = command.commands[rest[0]], rest[1:]
        known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
        for token in rest:
            if token.startswith("-") and token not in ("-",):
                assert token.split("=")[0] in known, f"README: {line!r}: unknown option {token}"


def test_every_shell_line_is_run_or_has_a_reason() -> None:
    for line in SHELL_LINES:
        assert line.startswith(RUN) or any(line.startswith(k) for k in NOT_RUN), (
            f"README example {line!r}: run it in this test or say in NOT_RUN why not"
        )


def test_the_quick_start_commits_dvc_lock() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "git add dvc.lock" in quick


def test_the_cheap_commands_run(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", prompts={"variants": ["original", "shuffled"]})
    assert run_cli(project, "validate").returncode == 0
    plans = [x for x in SHELL_LINES if x.startswith("value-inertia plan")]
    assert plans
    for line in plans:
        result = run_cli(project, *shlex.split(line)[1:])
        assert result.returncode == 0, (line, result.stderr)
        assert "to send of" in result.stdout


def test_models_as_a_list_is_refused_by_validate_with_the_mapping_form(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"] = [{"name": k, **v} for k, v in params["models"].items()]
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    load_params(project / "params.yaml")  # the library still reads it (tests write lists)
    result = run_cli(project, "validate")
    assert result.returncode == 2, result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "models: is a list" in line and "models: {gemma3-270m: {" in line
    with pytest.raises(ConfigError, match="foreach needs a mapping"):
        check_models_mapping(params, "params.yaml")
