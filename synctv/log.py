"""Logging set-up: human lines or JSON objects on stderr, optionally a file under data_dir/logs.

Structured fields travel in ``extra={...}``; the JSON formatter emits them as keys. Secrets never
reach a log record: config is logged only through ``Config.redacted()``, and DSNs through
:func:`redact_url`. Upstream URLs (which carry provider credentials: ``api_key=``, Emby tokens)
are logged only through ``synctv.outbound.masking.mask_url``; the HTTP client's own loggers, which
log every request's full URL at INFO (and headers at DEBUG), are held at WARNING
(:data:`QUIET_LOGGERS`), whatever the configured level.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from pathlib import Path

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_PASSWORD_IN_URL = re.compile(r"(?<=://)([^:/@]+):([^@]+)@")
# Libraries whose INFO/DEBUG records carry request URLs or headers verbatim (httpx: "HTTP
# Request: GET <url>"; httpcore: header dumps at DEBUG): never below WARNING.
QUIET_LOGGERS = ("httpx", "httpcore", "hpack")


def redact_url(url: str) -> str:
    """``postgres://u:secret@h/db`` → ``postgres://u:***@h/db``."""
    return _PASSWORD_IN_URL.sub(r"\1:***@", url)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = (
                    value if isinstance(value, str | int | float | bool | None) else str(value)
                )
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class QuietDriverFilter(logging.Filter):
    """asyncpg logs a traceback each time it fails to refill its pool while the database is
    down; :class:`synctv.store.db.Database` already logs one line per down/up change, so at
    info level those records are dropped, and at debug level they lose the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("asyncpg") or not record.exc_info:
            return True
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            return False
        error = record.exc_info[1]
        record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        return True


class HumanFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        return f"{line} {extras}" if extras else line


def configure_logging(level: str, fmt: str, log_dir: Path | None = None) -> None:
    """Replace the root handlers; safe to call again (tests, restarts in one process)."""
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else HumanFormatter()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(formatter)
    stderr.addFilter(QuietDriverFilter())
    root.addHandler(stderr)
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_dir / "synctv.log", encoding="utf-8")
        file_handler.setFormatter(JsonFormatter())
        file_handler.addFilter(QuietDriverFilter())
        root.addHandler(file_handler)
    root.setLevel(level.upper())
    # Hypercorn's own access log duplicates ours; its error log stays.
    logging.getLogger("hypercorn.access").disabled = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
