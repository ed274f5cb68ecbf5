"""Request body parsing for the API (kept apart from api.py: DRF imports it while loading its views)."""

from __future__ import annotations

import orjson
from django.conf import settings
from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """JSON bodies read by orjson, which refuses what would crash later as a 500.

    A lone surrogate (``"\\ud800"``) is not Unicode: Python's json accepts it, then the
    database, the response or the socket payload fails to encode it. orjson also refuses
    nesting deeper than 1024 (Python's json hits RecursionError), NaN/Infinity and numbers
    that overflow a double. Each is a 400 ``parse_error``.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        raw = stream.read() if stream is not None else b""
        try:
            if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
                raw = raw.decode(encoding)  # orjson reads UTF-8 bytes or str
            return orjson.loads(raw)
        except (orjson.JSONDecodeError, UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError() from exc
