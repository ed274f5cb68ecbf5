"""Who may read ``/metrics`` (and ``/readyz``'s error details): never the public.

A client address within ``METRICS_ALLOWED_IPS``, or ``Authorization: Bearer
<METRICS_TOKEN>``. The address is the one the access log records (``audit.context
.client_ip``): REMOTE_ADDR, or with ``NUM_PROXIES`` set, the address the nearest trusted
proxy saw; a client-written ``X-Forwarded-For`` counts for nothing otherwise.
"""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

from audit.context import client_ip


@lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def address_allowed(address: str | None) -> bool:
    if not address:
        return False
    ip = ipaddress.ip_address(address)
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:  # ::ffff:127.0.0.1
        candidates.append(ip.ipv4_mapped)
    networks = _networks(tuple(settings.METRICS_ALLOWED_IPS))
    return any(candidate in network for candidate in candidates for network in networks
               if candidate.version == network.version)


def token_allowed(header: str) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, given = header.partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def may_read_metrics(request: HttpRequest) -> bool:
    return token_allowed(request.META.get("HTTP_AUTHORIZATION", "")) or address_allowed(client_ip(request))
