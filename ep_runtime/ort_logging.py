"""Logging as onnxruntime's severities describe it: a process-wide default and a per-session level.

Severities are onnxruntime's: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal. The process-wide
level is the level of the `ep_runtime` logger (`set_default_logger_severity`); a session's
`log_severity_level` (>= 0) filters that session's own messages only and never changes the logger.
"""

from __future__ import annotations

import logging
import operator
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("ep_runtime")

#: onnxruntime severity -> logging level
SEVERITY_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR, 4: logging.CRITICAL}


def _level(severity: Any, what: str) -> int:
    try:
        value = operator.index(severity)
    except TypeError:
        raise TypeError(f"{what} must be an int from 0 to 4, got {type(severity).__name__}") from None
    if value not in SEVERITY_LEVELS:
        raise ValueError(f"{what} must be from 0 (verbose) to 4 (fatal), got {value}")
    return SEVERITY_LEVELS[value]


def set_default_logger_severity(severity: int) -> None:
    """Set the process-wide log level (0 verbose, 1 info, 2 warning, 3 error, 4 fatal)."""
    logger.setLevel(_level(severity, "set_default_logger_severity"))


def set_default_logger_verbosity(verbosity: int) -> None:
    """Accepted for compatibility: ep-runtime has no verbose-level (VLOG) messages."""
    operator.index(verbosity)


#: onnxruntime's callback signature: (severity, category, logid, code_location, message)
LogCallback = Callable[[int, str, str, str, str], None]


class _CallbackHandler(logging.Handler):
    """Hands each ep_runtime record to an onnxruntime-style logging callback."""

    _LEVELS = {v: k for k, v in SEVERITY_LEVELS.items()}

    def __init__(self, callback: LogCallback) -> None:
        super().__init__()
        self.callback = callback

    def emit(self, record: logging.LogRecord) -> None:
        severity = self._LEVELS.get(record.levelno, 2 if record.levelno < logging.ERROR else 3)
        try:
            self.callback(severity, "ep_runtime", getattr(record, "logid", ""), f"{record.pathname}:{record.lineno}",
                          record.getMessage())
        except Exception:
            self.handleError(record)


_callback_lock = threading.Lock()


def set_default_logger_callback(callback: LogCallback | None, severity: int = 2) -> None:
    """Send ep-runtime's messages to `callback(severity, category, logid, code_location, message)` instead
    of the usual handlers, and set the process-wide level to `severity`; None restores the handlers
    (and leaves the level as it is)."""
    level = _level(severity, "set_default_logger_callback severity")
    with _callback_lock:
        for handler in [h for h in logger.handlers if isinstance(h, _CallbackHandler)]:
            logger.removeHandler(handler)
        if callback is None:
            logger.propagate = True
            return
        if not callable(callback):
            raise TypeError(f"set_default_logger_callback takes a callable or None, got {type(callback).__name__}")
        logger.addHandler(_CallbackHandler(callback))
        logger.propagate = False
        logger.setLevel(level)


class SessionLog:
    """One session's messages: filtered by its own severity (-1: the logger's level), tagged by its logid."""

    def __init__(self, severity: int = -1, logid: str = "") -> None:
        self.level = None if int(severity) < 0 else _level(severity, "log_severity_level")
        self.logid = logid
        self.prefix = f"[{logid}] " if logid else ""

    def log(self, level: int, message: str, *args: Any) -> None:
        """Emit through the `ep_runtime` logger's handlers when `level` passes this session's threshold."""
        threshold = self.level if self.level is not None else logger.getEffectiveLevel()
        if level < threshold:
            return
        record = logger.makeRecord(logger.name, level, __file__, 0, self.prefix + message, args, None,
                                   extra={"logid": self.logid})
        if self.level is None:
            logger.handle(record)
        else:
            _emit(record)

    def info(self, message: str, *args: Any) -> None:
        self.log(logging.INFO, message, *args)

    def warning(self, message: str, *args: Any) -> None:
        self.log(logging.WARNING, message, *args)


def _emit(record: logging.LogRecord) -> None:
    """Hand a record to the handlers of `ep_runtime` and its ancestors, bypassing the loggers' levels
    (the session's own level already passed it), honouring handler levels and filters."""
    current: logging.Logger | None = logger
    found = False
    while current is not None:
        for handler in current.handlers:
            found = True
            if record.levelno >= handler.level:
                handler.handle(record)
        if not current.propagate:
            break
        current = current.parent
    if not found and logging.lastResort is not None and record.levelno >= logging.lastResort.level:
        logging.lastResort.handle(record)


__all__ = ["SEVERITY_LEVELS", "SessionLog", "logger", "set_default_logger_callback", "set_default_logger_severity",
           "set_default_logger_verbosity"]
