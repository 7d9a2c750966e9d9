"""Validated pipeline configuration: the pydantic models behind ``params.yaml``.

Every stage loads its configuration through :func:`load_params`. A bad file
stops with :class:`ConfigError`, whose message names the file, the key path and
what is allowed; the CLI turns it into one line on stderr and exit code 2.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from value_inertia.core import registry as metric_registry
from value_inertia.core.errors import ConfigError
from value_inertia.core.naming import check_part
from value_inertia.core.paths import project_root, questionnaire_dir
from value_inertia.core.protocol import ANSWER_MODES, AnswerMode, answer_mode
from value_inertia.core.yamlio import apply_overrides, format_validation_error, load_yaml

# re-exported: callers import these from here too
__all__ = ["ConfigError", "format_validation_error", "load_yaml"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class PersonasParams(_Strict):
    n: Annotated[StrictInt, Field(ge=1, description="personas per seed")] = 10
    seeds: Annotated[list[StrictInt], Field(min_length=1)] = [111]
    schema_path: str = Field(
        default="data/schemas/persona_attributes.yaml",
        alias="schema",
        description="persona attribute schema (YAML)",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct")
        return seeds


DEFAULT_PREAMBLE = (
    "Let's role-play. You are the person described below. "
    "Answer the question as this person would, based on who you are."
)


PROMPT_VARIANTS = ("original", "shuffled", "no_forced_choice", "no_preamble", "reversed")
Variant = Literal["original", "shuffled", "no_forced_choice", "no_preamble", "reversed"]


class PromptsParams(_Strict):
    questionnaires: Annotated[list[str], Field(min_length=1)] = ["mfq30", "pvqrr"]
    # prompt variants built side by side
    # (value_inertia.core.naming.VARIANTS says what each changes)
    variants: Annotated[list[Variant], Field(min_length=1)] = ["original"]
    repeats: Annotated[StrictInt, Field(ge=1)] = 1
    baseline_repeats: Annotated[StrictInt, Field(ge=1)] = 1
    forced_choice: bool = True
    preamble: bool = True
    preamble_text: str = DEFAULT_PREAMBLE
    shuffle_options: bool = False
    shuffle_seed: StrictInt = 0
    # system_user: persona in a system message, the question with one option per line;
    # inline: one user message, options inline ("A. ... B. ... F. ...? Answer:"), as the
    # paper's code did (presets/paper.yaml)
    layout: Literal["system_user", "inline"] = "system_user"
    closing_text: str | None = None  # a sentence after the persona description
    # questionnaire id -> block -> stem, replacing the questionnaire file's stem
    stems: dict[str, dict[str, str]] = {}

    @field_validator("questionnaires")
    @classmethod
    def _known_questionnaires(cls, ids: list[str], info: ValidationInfo) -> list[str]:
        root = (info.context or {}).get("root")
        qdir = questionnaire_dir(root)
        known = sorted(p.stem for p in qdir.glob("*.yaml"))
        for qid in ids:
            check_part(qid, "questionnaire id")  # a part of every result's file names
            if qid not in known:
                raise ValueError(
                    f"unknown questionnaire id {qid!r}; allowed: {', '.join(known)} "
                    f"(the files in {qdir})"
                )
        if len(set(ids)) != len(ids):
            raise ValueError("questionnaire ids must be distinct")
        return ids

    @field_validator("variants")
    @classmethod
    def _distinct_variants(cls, variants: list[str]) -> list[str]:
        if len(set(variants)) != len(variants):
            raise ValueError("variants must be distinct")
        return variants


class ModelParams(_Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    backend: Literal["embedded", "openai"] = "embedded"
    model: str = "gemma3-270m-q4-k-m"
    # published metadata (value_inertia.publishing): what the Hub may show about the model;
    # ``model`` and ``base_url`` (local paths, host names) are never published
    public_id: Annotated[str, Field(min_length=1)] | None = None
    quantization: Annotated[str, Field(min_length=1)] | None = None
    license: Annotated[str, Field(min_length=1)] | None = None
    base_url: str | None = None
    api_key_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    mode: Literal["logprobs", "sample"] = "logprobs"
    api: Literal["chat", "completions"] = "completions"
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    max_tokens: Annotated[StrictInt, Field(ge=1)] = 32
    samples: Annotated[StrictInt, Field(ge=1)] = 1
    concurrency: Annotated[StrictInt, Field(ge=1)] = 8
    requests_per_minute: Annotated[float, Field(gt=0)] | None = None
    timeout_s: Annotated[float, Field(gt=0)] = 60.0
    max_retries: Annotated[StrictInt, Field(ge=0)] = 6
    top_logprobs: Annotated[StrictInt, Field(ge=1, le=20)] = 20
    # prompt variants this model answers (null: all of prompts.variants)
    variants: list[Variant] | None = None

    @model_validator(mode="before")
    @classmethod
    def _sample_mode_defaults(cls, data: object) -> object:
        """The mode's defaults (:attr:`AnswerMode.defaults`; sample: temperature 1.0,
        max_tokens 256, see the README). Logprobs keeps 0.0 / 32: its store keys stay."""
        name = data.get("mode") if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(name, str) and name in ANSWER_MODES:
            data = {**dict(ANSWER_MODES[name].defaults), **data}  # unknown: the field's error
        return data

    # what identifies the model beyond its served id (part of the store key when set)
    revision: Annotated[str, Field(min_length=1)] | None = None
    # cost and budget (value_inertia.evaluation.cost); prices in USD per million tokens
    price_input_per_mtok: Annotated[float, Field(ge=0)] | None = None
    price_output_per_mtok: Annotated[float, Field(ge=0)] | None = None
    batch_discount: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    budget_usd: Annotated[float, Field(ge=0)] | None = None
    # online: one HTTP request per prompt;
    # batch: the OpenAI Batch API (value_inertia.evaluation.batch)
    transport: Literal["online", "batch"] = "online"
    batch_poll_max_s: Annotated[float, Field(gt=0)] = 120.0  # longest wait between checks

    @field_validator("name")
    @classmethod
    def _artifact_safe_name(cls, name: str) -> str:
        # model names become file names and artefact stems (value_inertia.core.naming)
        return check_part(name, "model name")

    @model_validator(mode="after")
    def _backend_requirements(self) -> ModelParams:
        if self.backend == "openai" and not self.base_url:
            raise ValueError(
                "base_url is required for backend 'openai' "
                "(e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1)"
            )
        if self.transport == "batch" and self.backend != "openai":
            raise ValueError("transport 'batch' needs backend 'openai' (the OpenAI Batch API)")
        if (
            self.budget_usd is not None
            and self.backend == "openai"
            and (self.price_input_per_mtok is None or self.price_output_per_mtok is None)
        ):
            raise ValueError(
                "budget_usd needs price_input_per_mtok and price_output_per_mtok "
                "(USD per million tokens) to know what a request costs"
            )
        return self

    @property
    def answer_mode(self) -> AnswerMode:
        """The :class:`~value_inertia.core.protocol.AnswerMode` that ``mode`` names."""
        return answer_mode(self.mode)

    def api_key(self) -> str | None:
        """The key from the environment variable named by ``api_key_env`` (never logged)."""
        if self.api_key_env is None:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ConfigError(
                f"models[{self.name}].api_key_env: environment variable "
                f"{self.api_key_env} is not set (it must hold the API key)"
            )
        return value

    def identity(self) -> dict[str, object]:
        """What decides the answers a request gets: part of every store key.

        The served model id (``model``), a declared ``revision`` and the request
        settings identify the model; its address (``base_url``) does not, so moving
        a server to another port or host keeps every stored answer. Concurrency,
        rate limits, timeouts, retries, prices and transport are not here either,
        so changing them never invalidates paid-for answers. The embedded backend
        keeps its historical ``"base_url": None`` entry: its keys stay byte-identical.
        """
        mode = self.answer_mode
        identity: dict[str, object] = {
            "backend": self.backend,
            "model": self.model,
            "mode": self.mode,
            "api": self.api,
            "temperature": self.temperature,
            "max_tokens": mode.request_max_tokens(self.max_tokens),
            "top_logprobs": mode.request_top_logprobs(self.top_logprobs),
        }
        if self.backend != "openai":
            identity["base_url"] = None
        sampler = mode.sampler(self.backend)
        if sampler is not None:  # answers drawn with other sampler settings are not these
            identity["sampler"] = sampler
        if self.revision is not None:
            identity["revision"] = self.revision
        return identity

    def legacy_identities(self) -> list[dict[str, object]]:
        """Identities of stores written before ``base_url`` left the key (openai only).

        One per spelling of the current address (``localhost``/``127.0.0.1``, with or
        without a trailing slash); a declared ``revision`` has no legacy identity,
        since answers stored without one cannot be known to come from it.
        """
        if self.backend != "openai" or self.revision is not None or not self.base_url:
            return []
        base = self.base_url.rstrip("/")
        spellings = {base, base + "/"}
        for a, b in (("//localhost", "//127.0.0.1"), ("//127.0.0.1", "//localhost")):
            if a in base:
                alt = base.replace(a, b, 1)
                spellings |= {alt, alt + "/"}
        out = []
        for url in sorted(spellings):
            out.append({**self.identity(), "base_url": url})
        return out

    def is_batch(self) -> bool:
        return self.transport == "batch"


class EvaluateParams(_Strict):
    max_failure_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    n_ctx: Annotated[StrictInt, Field(ge=256)] = 2048
    n_threads: Annotated[StrictInt, Field(ge=1)] | None = None


class ParseParams(_Strict):
    judge: str | None = None
    judge_scope: Literal["unparsed", "all"] = "unparsed"
    # logprobs mode: a prompt whose six letters carry less of the next-token probability
    # than this is unparsed (reason low_letter_mass); see the README for the default
    min_letter_mass: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1


class AnalyzeParams(_Strict):
    bootstrap: Annotated[StrictInt, Field(ge=10)] = 1000
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    seed: StrictInt = 0
    # bootstrap resamples of the convergence bands (variance across seeds vs personas)
    convergence_draws: Annotated[StrictInt, Field(ge=2)] = 200
    # selective permeability: permutations per (attribute, dimension) cell, the
    # Benjamini-Hochberg level that marks a cell, the smallest group of a Cohen's d
    permutations: Annotated[StrictInt, Field(ge=19)] = 1000
    fdr_alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    min_group_size: Annotated[StrictInt, Field(ge=2)] = 5


class ClusterParams(_Strict):
    method: Literal["kmeans", "agglomerative"] = "kmeans"
    k_min: Annotated[StrictInt, Field(ge=2)] = 2
    k_max: Annotated[StrictInt, Field(ge=2)] = 6
    seed: StrictInt = 0
    color_attribute: str = "religion"
    # below this best silhouette the personas form one cluster ("no structure")
    min_silhouette: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.25

    @model_validator(mode="after")
    def _k_range(self) -> ClusterParams:
        if self.k_max < self.k_min:
            raise ValueError(f"k_max ({self.k_max}) must be >= k_min ({self.k_min})")
        return self


class LeaderboardParams(_Strict):
    rank_by: Annotated[str, AfterValidator(metric_registry.check_rankable)] = "inertia"


class HubParams(_Strict):
    dataset_repo: Annotated[str, Field(pattern=r"^[\w.-]+/[\w.-]+$")] | None = None
    space_repo: Annotated[str, Field(pattern=r"^[\w.-]+/[\w.-]+$")] | None = None
    private: bool = False


class Params(_Strict):
    personas: PersonasParams = PersonasParams()
    prompts: PromptsParams = PromptsParams()
    models: Annotated[list[ModelParams], Field(min_length=1)] = [ModelParams(name="gemma3-270m")]
    evaluate: EvaluateParams = EvaluateParams()
    parse: ParseParams = ParseParams()
    analyze: AnalyzeParams = AnalyzeParams()
    cluster: ClusterParams = ClusterParams()
    leaderboard: LeaderboardParams = LeaderboardParams()
    hub: HubParams = HubParams()
    _source: str = PrivateAttr(default="params.yaml")  # the file it was loaded from

    @field_validator("models", mode="before")
    @classmethod
    def _models_by_name(cls, value: object) -> object:
        """``models`` may map each name to its spec (what dvc.yaml's ``foreach`` keys by)."""
        if not isinstance(value, dict):
            return value
        out = []
        for name, spec in value.items():
            if isinstance(spec, dict):
                if "name" in spec and spec["name"] != name:
                    raise ValueError(f"{name}: name {spec['name']!r} differs from its key")
                spec = {"name": name, **spec}
            out.append(spec)
        return out

    @model_validator(mode="after")
    def _cross_checks(self) -> Params:
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"models: duplicate name(s) {', '.join(dupes)}")
        for m in self.models:
            unknown = [v for v in m.variants or [] if v not in self.prompts.variants]
            if unknown:
                raise ValueError(
                    f"models[{m.name}].variants: {', '.join(unknown)} not in prompts.variants "
                    f"({', '.join(self.prompts.variants)})"
                )
        if self.parse.judge is not None and self.parse.judge not in names:
            raise ValueError(
                f"parse.judge: {self.parse.judge!r} is not a model name; "
                f"allowed: {', '.join(names)}"
            )
        return self

    def variants_for(self, model: ModelParams) -> list[str]:
        """The prompt variants ``model`` answers, in prompts.variants order."""
        wanted = model.variants
        return [v for v in self.prompts.variants if wanted is None or v in wanted]

    def model(self, name: str) -> ModelParams:
        for m in self.models:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.models)
        raise ConfigError(f"{self._source}: models: no model named {name!r}; known: {known}")

    def api_key(self, model: ModelParams) -> str | None:
        """``model``'s key (see :meth:`ModelParams.api_key`); an error names the params file."""
        try:
            return model.api_key()
        except ConfigError as exc:
            raise ConfigError(f"{self._source}: {exc}") from None


def load_params(path: Path | str | None = None, overrides: Sequence[str] = ()) -> Params:
    """Load and validate ``params.yaml`` (default: the repository's), with ``-S key=value``
    ``overrides`` applied first (:mod:`value_inertia.core.yamlio`)."""
    path = Path(path) if path is not None else project_root() / "params.yaml"
    data = load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    if overrides:
        data = apply_overrides(data, overrides)
    try:
        params = Params.model_validate(data, context={"root": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path), data, Params)) from None
    params._source = str(path)
    return params
