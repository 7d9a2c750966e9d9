"""How many threads the embedded engine uses: as many as the cores other work leaves free.

llama.cpp's threads spin-wait for each other at every step; when one of them is
descheduled because another process holds its core, all of them wait. Measured on
a 2-core machine (SmolLM2-135M, ~90-token prompt, benchmarks/bench_threads.py):
idle, 1 thread 121 tokens/s and 2 threads 210; with one core busy, 1 thread 129 and
2 threads 73 (below one thread). So the engine takes

    threads = max(1, min(cores, floor(cores - other + 0.25)))

where ``other`` is the CPU (in cores) that other processes used over the last
interval: all cores on an idle machine, one core fewer per busy core (a core more
than three quarters free counts as free). ``evaluate.n_threads`` fixes the count
instead. The load is measured at start and every ``interval_s`` during the run
(``/proc/stat`` minus this process's own CPU time; elsewhere the 1-minute load
average), and the engine's thread count is changed in place when it moves.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROC_STAT = Path("/proc/stat")
CHECK_INTERVAL_S = 10.0
FIRST_SAMPLE_S = 0.3


def threads_for(cores: int, other_busy: float) -> int:
    """Engine threads for ``cores`` CPUs of which other processes keep ``other_busy`` busy:
    ``max(1, min(cores, floor(cores - other_busy + 0.25)))``."""
    return max(1, min(cores, math.floor(cores - max(other_busy, 0.0) + 0.25)))


def _busy_seconds() -> float | None:
    """CPU seconds all processes have been busy since boot (Linux), or None."""
    try:
        fields = PROC_STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(x) for x in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system


class OtherLoad:
    """CPU used by other processes, in cores, since the previous reading."""

    def __init__(self) -> None:
        self._last = (time.monotonic(), _busy_seconds(), _own_seconds())

    def read(self) -> float:
        now, busy, own = time.monotonic(), _busy_seconds(), _own_seconds()
        then, busy0, own0 = self._last
        self._last = (now, busy, own)
        own_rate = (own - own0) / (now - then) if now > then else 0.0
        if busy is None or busy0 is None or now <= then:
            # no /proc/stat: the 1-minute load average, less what this process used
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
            return max(0.0, load - own_rate)
        return max(0.0, (busy - busy0) / (now - then) - own_rate)


class EngineThreads:
    """The thread count of one embedded engine: fixed, or adapted to the load."""

    def __init__(self, fixed: int | None, cores: int | None = None) -> None:
        self.fixed = fixed
        self.cores = cores or os.cpu_count() or 1
        self._load: OtherLoad | None = None
        self._checked = 0.0
        self.current = fixed or self._first()

    def _first(self) -> int:
        self._load = OtherLoad()
        time.sleep(FIRST_SAMPLE_S)
        n = threads_for(self.cores, self._load.read())
        self._checked = time.monotonic()
        log.debug("embedded engine: %d of %d cores free, %d threads", n, self.cores, n)
        return n

    def adjust(self, llm: Any, interval_s: float = CHECK_INTERVAL_S) -> int:
        """Re-measure every ``interval_s`` and set ``llm``'s threads when the count moves."""
        if self.fixed is not None or self._load is None:
            return self.current
        if time.monotonic() - self._checked < interval_s:
            return self.current
        self._checked = time.monotonic()
        wanted = threads_for(self.cores, self._load.read())
        if wanted != self.current:
            import llama_cpp

            llama_cpp.llama_set_n_threads(llm.ctx, wanted, wanted)
            log.debug("embedded engine: %d threads (was %d)", wanted, self.current)
            self.current = wanted
        return self.current
