"""``LOG_FORMAT=json``: every log line one JSON object, for a log collector to parse.

Fields: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``; ``request_id``
when the line is written during a request (the id answered in ``X-Request-ID`` and kept
in the access log's rows); the request fields of ``access`` lines (operations/
middleware.py) at the top level; ``exception`` with the traceback when there is one.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        http = getattr(record, "http", None)
        if isinstance(http, dict):
            line.update(http)
        elif (request_id := _current_request_id()) is not None:
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _current_request_id() -> str | None:
    # Not imported here: this formatter is built while Django configures logging, before
    # the apps (audit.context imports a model). Once a request runs, it is loaded.
    context = sys.modules.get("audit.context")
    current = context.contexte_courant() if context is not None else None
    return current.request_id if current is not None else None
