"""The accept queue of daphne's listening sockets: room for a reconnect storm.

daphne listens through Twisted's ``listenTCP``, whose backlog is 50. When a process holding
thousands of sockets restarts (a deploy, a crash), every client reconnects within a second
or two; with 50 places the kernel drops the excess handshakes, and each dropped client
retries only after TCP's retransmission timeout (1 s, then 2, 4, 8... s): a storm of
10,000 took minutes while the process was mostly idle (bench/storm.py, bench/README.md
"Reconnect storm"). Node's http server listens with 511.

Once the reactor runs (``serving.start``), each TCP port daphne listens on is given
``LISTEN_BACKLOG`` places by calling ``listen()`` again on its socket (Linux updates the
backlog of a listening socket; the kernel caps it at ``net.core.somaxconn``, 4096 by
default). Public APIs only (the reactor's readers, the port's socket): no version check.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("serving")


def listening_ports() -> list:
    """The reactor's listening TCP ports (daphne's endpoints), once it runs."""
    from twisted.internet import reactor, tcp

    return [r for r in reactor.getReaders() if isinstance(r, tcp.Port)]


def widen(ports: list, backlog: int) -> int:
    """Give each listening port ``backlog`` places; how many ports were widened."""
    widened = 0
    for port in ports:
        sock = getattr(port, "socket", None)
        if sock is None or getattr(port, "backlog", 0) >= backlog:
            continue
        sock.listen(backlog)
        port.backlog = backlog
        widened += 1
    return widened


def install(backlog: int) -> int:
    """Under daphne, once listening: every TCP port of the reactor (0 when ``backlog`` is 0)."""
    if backlog <= 0:
        return 0
    widened = widen(listening_ports(), backlog)
    if widened:
        logger.info("serving: listen backlog %d on %d port(s)", backlog, widened)
    return widened
