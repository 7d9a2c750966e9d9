"""Full default run: ``dvc repro`` from a fresh clone, install excluded.

Clones the repository (``--ref``, default HEAD) into a temporary directory,
reuses the existing virtual environment (its ``bin`` first on PATH; the clone's
``src`` first on PYTHONPATH so that the clone's code runs, not the editable
install's), and runs ``dvc repro`` under ``/usr/bin/time -v`` while polling the
process tree with psutil. Reports the wall time, CPU time, peak memory (the
largest single process, from ``time -v``, and the largest sum over the process
tree, from psutil) and the seconds and peak memory of every stage (from DVC's
``Running stage '...'`` lines, timestamped as they arrive; a stage's time runs
until the next stage starts, so it includes DVC's own bookkeeping for it).

Target: under 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGE_RE = re.compile(r"Running stage '([^']+)'")
SKIP_RE = re.compile(r"Stage '([^']+)' didn't change, skipping")
MiB = 1024 * 1024


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def make_clone(dest: Path, ref: str, worktree: bool) -> str:
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(dest)], check=True)
    commit = git("rev-parse", ref, cwd=REPO).strip()
    subprocess.run(["git", "checkout", "--quiet", commit], cwd=dest, check=True)
    if worktree:  # overlay uncommitted changes (modified + untracked, not ignored)
        for rel in git("ls-files", "-m", "-o", "--exclude-standard", cwd=REPO).splitlines():
            src = REPO / rel
            if src.is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / rel)
        for rel in git("ls-files", "-d", cwd=REPO).splitlines():
            (dest / rel).unlink(missing_ok=True)
    return commit


def set_params(params_file: Path, assignments: list[str]) -> None:
    """``key.sub=value`` (value parsed as YAML) into the clone's params.yaml."""
    data = yaml.safe_load(params_file.read_text())
    for item in assignments:
        key, _, raw = item.partition("=")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = parts[-1]
        value = yaml.safe_load(raw)
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    params_file.write_text(yaml.safe_dump(data, sort_keys=False))


class TreePoller(threading.Thread):
    """Polls RSS of a process and its descendants: peak sum and peak single process."""

    def __init__(self, pid: int, interval: float, current_stage: list[str]) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.current = pid, interval, current_stage
        self.peak_sum = 0
        self.peak_single = 0
        self.peak_single_cmd = ""
        self.by_stage: dict[str, tuple[int, int]] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.stop_event.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            total, biggest, cmd = 0, 0, ""
            for p in procs:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                if rss > biggest:
                    biggest = rss
                    try:
                        cmd = " ".join(p.cmdline()[:4])
                    except psutil.Error:
                        cmd = "?"
            self.peak_sum = max(self.peak_sum, total)
            if biggest > self.peak_single:
                self.peak_single, self.peak_single_cmd = biggest, cmd
            stage = self.current[0]
            s_sum, s_single = self.by_stage.get(stage, (0, 0))
            self.by_stage[stage] = (max(s_sum, total), max(s_single, biggest))
            time.sleep(self.interval)


def parse_time_v(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.strip().rpartition(": ")
        if sep:
            out[key.strip()] = value.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--ref", default="HEAD", help="commit to clone")
    ap.add_argument(
        "--worktree",
        action="store_true",
        help="overlay the working tree's uncommitted changes on the clone",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a params.yaml value in the clone, e.g. personas.n=2 (for quick checks; "
        "the full-scale run uses the defaults)",
    )
    ap.add_argument("--venv", type=Path, default=REPO / ".venv", help="virtual env to reuse")
    ap.add_argument("--keep", action="store_true", help="keep the clone (path is printed)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before giving up")
    ap.add_argument("--poll", type=float, default=0.1, help="psutil polling interval (s)")
    ap.add_argument("--log", type=Path, default=None, help="also write DVC's output here")
    args = ap.parse_args(argv)

    venv_bin = args.venv.resolve() / "bin"
    if not (venv_bin / "dvc").exists():
        raise SystemExit(f"{venv_bin}/dvc not found; set up the venv first (see README)")
    tmp = Path(tempfile.mkdtemp(prefix="vi-fullrun-"))
    clone = tmp / "value-inertia"
    commit = make_clone(clone, args.ref, args.worktree)
    if args.set:
        set_params(clone / "params.yaml", args.set)

    env = {k: v for k, v in os.environ.items() if k not in ("VALUE_INERTIA_ROOT", "HF_TOKEN")}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(
        PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(args.venv.resolve()),
        PYTHONPATH=str(clone / "src"),
        PYTHONUNBUFFERED="1",
    )
    which = subprocess.run(
        [str(venv_bin / "python"), "-c", "import value_inertia; print(value_inertia.__file__)"],
        env=env,
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    time_file = tmp / "time-v.txt"
    cmd = ["/usr/bin/time", "-v", "-o", str(time_file), str(venv_bin / "dvc"), "repro"]
    current = ["(dvc start)"]
    events: list[tuple[float, str]] = []
    skipped: list[str] = []
    log_lines: list[str] = []
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    poller = TreePoller(proc.pid, args.poll, current)
    poller.start()
    assert proc.stdout is not None
    deadline = start + args.timeout
    for line in proc.stdout:
        now = time.perf_counter() - start
        log_lines.append(f"[{now:8.2f}] {line.rstrip()}")
        m = STAGE_RE.search(line)
        if m:
            current[0] = m.group(1)
            events.append((now, m.group(1)))
            print(f"[{now:7.1f} s] {m.group(1)}", file=sys.stderr, flush=True)
        s = SKIP_RE.search(line)
        if s:
            skipped.append(s.group(1))
        if time.perf_counter() > deadline:
            proc.kill()
            break
    rc = proc.wait()
    wall = time.perf_counter() - start
    poller.stop_event.set()
    poller.join(2)
    tv = parse_time_v(time_file.read_text()) if time_file.exists() else {}
    if args.log:
        args.log.write_text("\n".join(log_lines) + "\n")

    print(
        f"# Full default run — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}\n"
    )
    print(f"Commit {commit[:12]} ({args.ref}){' + working tree' if args.worktree else ''}; ")
    print(f"params overrides: {', '.join(args.set) if args.set else 'none (defaults)'}; ")
    print(f"value_inertia imported from {which}\n")
    print(
        "| stage | seconds | % of wall | peak RSS, process tree (MiB) "
        "| peak RSS, one process (MiB) |"
    )
    print("|---|---:|---:|---:|---:|")
    bounds = [*events, (wall, "(end)")]
    first = events[0][0] if events else wall
    pre_sum, pre_single = poller.by_stage.get("(dvc start)", (0, 0))
    print(
        f"| (dvc start-up) | {first:.1f} | {100 * first / wall:.1f}% | "
        f"{pre_sum / MiB:.0f} | {pre_single / MiB:.0f} |"
    )
    for (t, name), (t_next, _) in zip(bounds, bounds[1:], strict=False):
        s_sum, s_single = poller.by_stage.get(name, (0, 0))
        print(
            f"| {name} | {t_next - t:.1f} | {100 * (t_next - t) / wall:.1f}% | "
            f"{s_sum / MiB:.0f} | {s_single / MiB:.0f} |"
        )
    max_rss_kb = int(tv.get("Maximum resident set size (kbytes)", "0") or 0)
    user = float(tv.get("User time (seconds)", "nan"))
    system = float(tv.get("System time (seconds)", "nan"))
    print()
    print("| figure | value |")
    print("|---|---:|")
    print(f"| exit status | {rc} |")
    print(f"| wall time (s) | {wall:.1f} |")
    print(f"| CPU user + system (s) | {user + system:.1f} |")
    print(f"| CPU use (time -v) | {tv.get('Percent of CPU this job got', '?')} |")
    print(f"| peak RSS, largest single process (time -v, MiB) | {max_rss_kb / 1024:.0f} |")
    print(f"| peak RSS, largest single process (psutil, MiB) | {poller.peak_single / MiB:.0f} |")
    print(f"| peak RSS, sum over the process tree (psutil, MiB) | {poller.peak_sum / MiB:.0f} |")
    print(f"| stages run / skipped | {len(events)} / {len(skipped)} |")
    print(f"\nLargest process: {poller.peak_single_cmd}")
    verdict = "MET" if rc == 0 and wall < 300 else "MISSED"
    print(f"\nTarget < 5 min (300 s): {wall:.1f} s -> {verdict}")
    if rc != 0:
        print("\nLast lines of DVC's output:\n", file=sys.stderr)
        print("\n".join(log_lines[-40:]), file=sys.stderr)
    if args.keep:
        print(f"\nClone kept at {clone}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
