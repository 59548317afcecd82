"""Structured log lines to the systemd journal (python-systemd), when there is one.

Progress goes to the terminal separately; the journal keeps what apply, rollback and the
boot-time verify did, under SYSLOG_IDENTIFIER=lltune (`journalctl -t lltune`).
"""

import contextlib
import syslog
from typing import Any, Optional

_sender: Optional[Any] = None
_resolved = False


def _journal() -> Optional[Any]:
    global _sender, _resolved
    if not _resolved:
        _resolved = True
        try:
            from systemd import journal
            _sender = journal.send
        except ImportError:
            _sender = None
    return _sender


def _send(priority: int, message: str, **fields: Any) -> None:
    send = _journal()
    if send is None:
        return
    # No journald socket (a container, the build machine): the terminal has it all.
    with contextlib.suppress(OSError):
        send(message, PRIORITY=priority, SYSLOG_IDENTIFIER="lltune",
             **{key.upper(): str(value) for key, value in fields.items()})


def info(message: str, **fields: Any) -> None:
    _send(syslog.LOG_INFO, message, **fields)


def warning(message: str, **fields: Any) -> None:
    _send(syslog.LOG_WARNING, message, **fields)


def error(message: str, **fields: Any) -> None:
    _send(syslog.LOG_ERR, message, **fields)
