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

import ctypes
import logging
import select
import socket
import struct
import sys

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


# --- closing a listening port without resetting what the kernel already queued ----------
#
# close() on a listening socket resets every connection in its accept queue: the client
# (nginx) has already sent its request, gets a reset, answers 502, and never retries a
# POST. So a stopping process first stops the kernel from completing new handshakes,
# takes in what is queued, and only then closes: a classic BPF filter on the listening
# socket drops incoming SYNs (their sender retries after TCP's 1 s timeout, meets a
# closed port, and nginx moves on to the other process), and lets every other segment
# through (the last ACK of a handshake already under way, data). The filter is a kernel
# interface (SO_ATTACH_FILTER, socket(7)), Linux only.

SO_ATTACH_FILTER = 26  # <asm-generic/socket.h>; Python's socket module does not name it
_DROP_SYN = (  # struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}; offsets from the TCP header
    (0x30, 0, 0, 13),          # ldb [13]        the flags byte
    (0x54, 0, 0, 0x12),        # and #SYN|ACK
    (0x15, 0, 1, 0x02),        # jeq #SYN, drop, keep   (a SYN without ACK: a new handshake)
    (0x06, 0, 0, 0),           # drop
    (0x06, 0, 0, 0xFFFFFFFF),  # keep, whole
)


def refuse_new_handshakes(sock) -> bool:
    """Make ``sock`` (listening, TCP) drop new handshakes; what is queued stays acceptable.

    True when the filter is on; False where the kernel has no socket filters."""
    if not sys.platform.startswith("linux"):
        return False
    program = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in _DROP_SYN))
    fprog = struct.pack("HP", len(_DROP_SYN), ctypes.addressof(program))  # struct sock_fprog
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)  # the kernel copies it
    except OSError as exc:
        logger.warning("serving: cannot filter new handshakes on a closing port (%s)", exc)
        return False
    return True


def queued(sock) -> bool:
    """Whether a connection waits in ``sock``'s accept queue (poll: no FD_SETSIZE limit)."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))
