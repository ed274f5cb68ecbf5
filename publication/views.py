"""``GET /fhir/$bulk-publish`` and its NDJSON files: anonymous, throttled, conditional.

Plain Django views (no DRF content negotiation): the specification requires the same
payload with no ``Accept`` header, ``application/json`` (manifest) or
``application/fhir+ndjson`` (files), so ``Accept`` is not consulted at all; ``_since`` is
ignored, as the specification allows.

Validators, so a client polling every few minutes costs little:

- ``ETag``: for the small files and the manifest, a hash of the body; for the slots, a
  hash of exactly what the file is made of (each slot's id, start, end and doctor, and
  each doctor's practice phone and time zone and shortest visit reason open online, and
  the URLs) read in the slot and doctor queries,
  so a 304 skips the rendering and the transfer of the file, never a change.
- ``Last-Modified``: when this server first published the current content of a file
  (kept in the cache, shared by the processes on Redis); the manifest's
  ``transactionTime`` is the latest of them. ``If-None-Match`` wins over
  ``If-Modified-Since`` (RFC 9110), and is the validator to use.
- ``Cache-Control: public, max-age=FHIR_PUBLICATION_MAX_AGE``: the polling interval
  the specification suggests to announce.

The files are gzipped for clients that accept it (``Accept-Encoding: gzip``; the ETag
is then weak, ``Vary: Accept-Encoding``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import zlib
from array import array
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cached_property
from itertools import chain

import orjson
from django.conf import settings
from django.core.cache import caches
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.http import http_date
from redis.exceptions import RedisError

from medical_booking.api import MESSAGES, error_body
from medical_booking.throttling import CacheRateThrottle

from . import fhir, selectors

logger = logging.getLogger(__name__)

NDJSON = "application/fhir+ndjson"
MANIFEST_PATH = "/fhir/$bulk-publish"
FILES = {kind: f"/fhir/{kind}.ndjson" for kind in fhir.TYPES}
CHUNK = 500  # slots rendered per streamed chunk
ALLOWED = ("GET", "HEAD")
GZIP = re.compile(r"\bgzip\b")  # as Django's GZipMiddleware reads Accept-Encoding


class PublicationThrottle(CacheRateThrottle):
    """Per client IP, like the other anonymous endpoints (THROTTLE_FHIR_PUBLICATION)."""

    scope = "fhir_publication"


class Publication:
    """One request's view of what is published: each part read at most once."""

    def __init__(self, request: HttpRequest) -> None:
        self.now = timezone.now()
        origin = f"{request.scheme}://{request.get_host()}"
        self.base_url = settings.FHIR_BASE_URL.rstrip("/") or origin
        self.front_url = settings.FRONTEND_URL.rstrip("/") or origin
        self._bodies: dict[str, bytes] = {}
        self._etags: dict[str, str] = {}
        self._since: dict[str, datetime] = {}

    @cached_property
    def cabinets(self) -> list:
        return list(selectors.cabinets())

    @cached_property
    def medecins(self) -> list:
        return selectors.medecins()

    @cached_property
    def slot_rows(self) -> list[selectors.SlotRow]:
        return selectors.free_slot_rows(self.now, {m.pk: m for m in self.medecins})

    @cached_property
    def states(self) -> list[str]:
        """The départements of the published practices: the manifest's jurisdiction hint."""
        return sorted({s for s in (fhir.departement(c.code_postal) for c in self.cabinets) if s})

    # -- the small files: built whole, validated by a hash of the body

    def body(self, kind: str) -> bytes:
        if kind not in self._bodies:
            if kind == "Location":
                resources = [fhir.location(c, base_url=self.base_url, front_url=self.front_url)
                             for c in self.cabinets]
            elif kind == "Practitioner":
                resources = [fhir.practitioner(m, base_url=self.base_url) for m in self.medecins]
            elif kind == "Schedule":
                resources = [fhir.schedule(m) for m in self.medecins]
            else:
                raise ValueError(kind)
            self._bodies[kind] = ndjson(resources)
        return self._bodies[kind]

    # -- the slot file: validated by what it is made of, streamed

    @cached_property
    def shapes(self) -> dict[int, fhir.SlotShape]:
        return {m.pk: fhir.SlotShape(m, front_url=self.front_url) for m in self.medecins}

    def slot_fingerprint(self) -> str:
        digest = hashlib.blake2b(digest_size=16)
        digest.update(self.front_url.encode())
        for m in self.medecins:
            digest.update(f"\n{m.pk}\t{m.cabinet.timezone}\t{m.cabinet.telephone}\t{m.duree_min_en_ligne}".encode())
        digest.update(array("q", chain.from_iterable(self.slot_rows)).tobytes())
        return digest.hexdigest()

    def slot_chunks(self) -> Iterator[bytes]:
        rows, shapes = self.slot_rows, self.shapes
        for start in range(0, len(rows), CHUNK):
            yield b"".join(
                orjson.dumps(shapes[m].slot(pk, debut, fin), option=orjson.OPT_APPEND_NEWLINE)
                for pk, debut, fin, m in rows[start:start + CHUNK]
            )

    # -- validators

    def etag(self, kind: str) -> str:
        if kind not in self._etags:
            tag = (self.slot_fingerprint() if kind == "Slot"
                   else hashlib.blake2b(self.body(kind), digest_size=16).hexdigest())
            self._etags[kind] = f'"{kind.lower()}-{tag}"'
        return self._etags[kind]

    def since(self, kind: str) -> datetime:
        if kind not in self._since:
            self._since[kind] = published_since(kind, self.etag(kind), self.now)
        return self._since[kind]

    def manifest(self) -> dict:
        transaction = max(self.since(kind) for kind in fhir.TYPES)
        output = []
        for kind in fhir.TYPES:
            item: dict = {"type": kind, "url": f"{self.base_url}{FILES[kind]}"}
            if self.states:
                item["extension"] = {"state": self.states}
            output.append(item)
        return {
            "transactionTime": fhir.instant(transaction, UTC),
            "request": f"{self.base_url}{MANIFEST_PATH}",
            "output": output,
            "error": [],
        }


def ndjson(resources: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in resources)


def published_since(kind: str, etag: str, now: datetime) -> datetime:
    """When this content of ``kind`` was first served (whole seconds, as HTTP dates are).

    A new content gets a second later than the previous one's even within the same
    second, so ``If-Modified-Since`` never matches a content the client has not seen.
    Without the cache (Redis away) it is ``now``: no 304 on dates, ETags still work.
    """
    key = f"publication:fhir:{kind}"
    now = now.replace(microsecond=0)
    cache = caches["default"]
    try:
        seen = cache.get(key)
        if seen and seen[0] == etag:
            return seen[1]
        since = now if not seen or now > seen[1] else seen[1] + timedelta(seconds=1)
        cache.set(key, (etag, since), timeout=None)
    except (RedisError, OSError) as exc:
        logger.warning("publication dates unavailable, cache error: %s", exc)
        return now
    return since


def refused(request: HttpRequest) -> HttpResponse | None:
    """A JSON 405 for other methods, a JSON 429 past the rate; None to go on."""
    if request.method not in ALLOWED:
        response = JsonResponse(error_body("method_not_allowed", MESSAGES["method_not_allowed"]), status=405)
        response["Allow"] = ", ".join(ALLOWED)
        return response
    throttle = PublicationThrottle()
    if not throttle.allow_request(request, None):
        wait = throttle.wait()
        response = JsonResponse(error_body("throttled", MESSAGES["throttled"], {"retry_after": wait}), status=429)
        response["Retry-After"] = str(wait)
        return response
    return None


def accepts_gzip(request: HttpRequest) -> bool:
    return bool(GZIP.search(request.META.get("HTTP_ACCEPT_ENCODING", "")))


def gzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """One gzip stream over the chunks (one compressor, so one gzip member)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


def conditional(request: HttpRequest, etag: str, since: datetime, content_type: str,
                build: Callable[[], HttpResponseBase], *, compressible: bool = False) -> HttpResponseBase:
    """304 when the client's validators match, else ``build(gzip)`` (headers only for
    HEAD); the validators and Cache-Control on both. A gzip answer's ETag is weak, as
    Django's GZipMiddleware makes it: If-None-Match compares weakly, so either form
    of the tag gets the 304."""
    gzip = compressible and accepts_gzip(request)
    if gzip:
        etag = f"W/{etag}"
    last_modified = int(since.timestamp())
    response = get_conditional_response(request, etag=etag, last_modified=last_modified)
    if response is None:
        response = HttpResponse(content_type=content_type) if request.method == "HEAD" else build(gzip)
        if gzip:
            response["Content-Encoding"] = "gzip"
    if compressible:
        patch_vary_headers(response, ("Accept-Encoding",))
    response["ETag"] = etag
    response["Last-Modified"] = http_date(last_modified)
    response["Cache-Control"] = f"public, max-age={settings.FHIR_PUBLICATION_MAX_AGE}"
    # Public data read without credentials: a portal's page on any origin may fetch it.
    response["Access-Control-Allow-Origin"] = "*"
    return response


def manifest(request: HttpRequest) -> HttpResponseBase:
    """The Bulk Publication Manifest: ``transactionTime``, ``request``, one ``output``
    per file (``type``, ``url``, ``extension.state``: the départements), ``error: []``."""
    if (response := refused(request)) is not None:
        return response
    publication = Publication(request)
    body = orjson.dumps(publication.manifest())
    etag = f'"manifest-{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
    since = max(publication.since(kind) for kind in fhir.TYPES)
    return conditional(request, etag, since, "application/json",
                       lambda gzip: HttpResponse(body, content_type="application/json"))


def resource_file(request: HttpRequest, kind: str) -> HttpResponseBase:
    """One NDJSON file (``Location``, ``Practitioner``, ``Schedule``, ``Slot``), gzipped
    when the client accepts it (the slot file shrinks about fifteenfold)."""
    if (response := refused(request)) is not None:
        return response
    publication = Publication(request)

    def build(gzip: bool) -> HttpResponseBase:
        if kind != "Slot":
            body = publication.body(kind)
            return HttpResponse(b"".join(gzipped([body])) if gzip else body, content_type=NDJSON)
        chunks = gzipped(publication.slot_chunks()) if gzip else publication.slot_chunks()
        # Under daphne an async iterator is sent chunk by chunk (rendered and compressed
        # off the event loop); Django would read a sync one whole first. Tests (WSGI)
        # iterate it in place.
        return StreamingHttpResponse(_in_threads(chunks) if isinstance(request, ASGIRequest) else chunks,
                                     content_type=NDJSON)

    return conditional(request, publication.etag(kind), publication.since(kind), NDJSON, build, compressible=True)


async def _in_threads(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
        yield chunk
