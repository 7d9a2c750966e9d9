"""Process signal set-up of the command line."""

from __future__ import annotations

import signal


def restore_interrupt() -> None:
    """Let Ctrl-C (SIGINT) stop a run even when it was started with SIGINT ignored.

    A process started in the background by a non-interactive shell (``cmd &`` in a
    script, some CI runners) inherits SIGINT as *ignored*, and Python then installs no
    KeyboardInterrupt handler: ``kill -INT`` did nothing and the run went on to the end
    (tests/test_interrupt.py). The answers are stored as they arrive, so stopping is safe.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
