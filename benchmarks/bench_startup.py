"""Per-stage start-up cost: wall time of a stage that does almost no work.

For each source tree given (``--repo``, default: this one), copies its stages,
package and inputs into a scratch project with 1 persona and runs the cheap
stages several times (median wall time), plus the import time of the CLI and
of mlflow (``python -X importtime``). What a stage costs beyond this is its work.

    python benchmarks/bench_startup.py --repo /path/to/before --repo . --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

STAGES = ("validate", "personas", "prompts")


def project(repo: Path, dest: Path) -> Path:
    for rel in ("stages", "src", "data/questionnaires", "data/schemas"):
        shutil.copytree(repo / rel, dest / rel, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["personas"]["n"] = 1
    params["prompts"]["questionnaires"] = ["mfq30"]
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


def wall(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return took


def import_s(module: str, env: dict[str, str], cwd: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    last = [line for line in out.stderr.splitlines() if line.rstrip().endswith(f"| {module}")]
    return int(last[-1].split("|")[1]) / 1e6 if last else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", action="append", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    repos = args.repo or [Path(__file__).resolve().parents[1]]
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| source | import value_inertia.cli | import mlflow | " + " | ".join(STAGES) + " |")
    print("|---" * (3 + len(STAGES)) + "|")
    for repo in repos:
        repo = repo.resolve()
        with tempfile.TemporaryDirectory() as tmp:
            proj = project(repo, Path(tmp) / "p")
            env = {
                **os.environ,
                "PYTHONPATH": str(proj / "src"),
                "VALUE_INERTIA_ROOT": str(proj),
                "MLFLOW_TRACKING_URI": f"sqlite:///{proj / 'mlflow.db'}",
            }
            for var in ("DVC_STAGE", "DVC_EXP_NAME", "DVC_ROOT"):
                env.pop(var, None)
            cells = [
                f"{import_s('value_inertia.cli', env, proj):.2f} s",
                f"{import_s('mlflow', env, proj):.2f} s",
            ]
            # a first run creates mlflow.db (one-off), so it is not counted
            wall([sys.executable, "stages/personas.py"], proj, env)
            wall([sys.executable, "stages/prompts.py"], proj, env)
            for stage in STAGES:
                script = proj / "stages" / f"{stage}.py"
                if not script.exists():
                    cells.append("-")
                    continue
                times = [
                    wall([sys.executable, str(script)], proj, env) for _ in range(args.repeats)
                ]
                cells.append(f"{statistics.median(times):.2f} s")
            print(f"| {repo} | " + " | ".join(cells) + " |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
