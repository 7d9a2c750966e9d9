"""What the command-line process shows and how it stops: its set-up, done once by the CLI.

The library reports progress through the ``value_inertia`` loggers;
:func:`configure_logging` shows their INFO messages on stderr (the message alone,
secrets redacted) and hides MLflow's warnings. :func:`echo_errors` prints an error
as ``error:`` lines. :func:`restore_interrupt` lets Ctrl-C stop a run that was
started with SIGINT ignored. Only the application sets such process-wide state:
library modules never call these.
"""

from __future__ import annotations

import logging
import signal
import sys
import warnings

import typer

from value_inertia.core.redaction import redact


class _Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a message is logged (not at set-up)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:  # the base class assigns it once; ignored
        pass


def configure_logging() -> None:
    """What the CLI process shows: the library's INFO messages on stderr; MLflow's
    warnings (not the user's to act on) hidden."""
    logger = logging.getLogger("value_inertia")
    if not any(isinstance(f, _Redact) for h in logger.handlers for f in h.filters):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.addFilter(_Redact())
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    warnings.filterwarnings("ignore", module=r"mlflow(\..*)?")


def echo_errors(message: str) -> None:
    """``message`` on stderr, one ``error: `` line per line, secrets redacted."""
    for line in redact(message).splitlines():
        typer.echo(f"error: {line}", err=True)


def restore_interrupt() -> None:
    """Let Ctrl-C (SIGINT) stop a run even when it was started with SIGINT ignored.

    A process started in the background by a non-interactive shell (``cmd &`` in a
    script, some CI runners) inherits SIGINT as *ignored*, and Python then installs no
    KeyboardInterrupt handler: ``kill -INT`` did nothing and the run went on to the end
    (tests/test_interrupt.py). The answers are stored as they arrive, so stopping is safe.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
