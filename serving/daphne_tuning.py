"""Per-frame and per-second costs of daphne's Twisted/autobahn layer (issue 5).

bench/README.md "Where time goes", hot spots 1 and 6. Six small, opt-out patches,
installed by :func:`install` (called by ``serving.install`` at start-up) only when the
process is a daphne server (see :func:`under_daphne`). Nothing here changes a byte on the wire: the same
frames are written in the same order; only
*when* the kernel gets them (eager writes) and what is computed around them changes.

1. ``DAPHNE_EAGER_WRITES`` -- eager writes on plain-TCP server connections.
   Twisted's ``FileDescriptor.write`` appends every frame to a buffer and calls
   ``startWriting()`` (asyncio ``add_writer``: an ``epoll_ctl`` plus a
   ``namedtuple._replace`` in ``selectors``); the bytes go out on a later loop turn in
   ``doWrite``, which then calls ``stopWriting()`` (another ``epoll_ctl``). asyncio and
   uvloop transports, like Node, try ``send()`` at once and only watch the fd for
   writability when the kernel buffer is full. :func:`_eager_write` does the same for
   ``twisted.internet.tcp.Server``, and *only* when nothing at all is buffered and the
   transport is in its plain steady state; every other case goes to Twisted's own
   ``write`` unchanged. What is kept, point by point:

   - ordering: eager only if ``dataBuffer`` and ``_tempDataBuffer`` are both empty, so a
     frame can never overtake bytes already queued; an unsent remainder is queued exactly
     as Twisted's ``write`` would queue it, and ``doWrite`` takes over from there;
   - producers: eager only with no producer or a streaming (push) producer that is not
     paused. A pull producer relies on ``doWrite`` calling ``resumeProducing()`` when the
     buffer drains, so it keeps the buffered path. When a remainder is queued,
     ``_maybePauseProducer()`` runs as in Twisted's ``write``;
   - close and half-close: after ``loseConnection()`` (``disconnecting``) or
     ``loseWriteConnection()`` (``_writeDisconnecting``), or once the write side is shut
     (``_writeDisconnected``), Twisted's ``write`` handles it (buffer, or drop);
   - connection lost: if ``send()`` fails (``EPIPE``, ``ECONNRESET``: ``writeSomeData``
     returns ``CONNECTION_LOST``), the data is queued and the writer registered, so the
     reactor's ``doWrite`` meets the same error on its next turn and reports the lost
     connection through its usual path (``_disconnectSelectable`` -> ``connectionLost``),
     never re-entrantly from inside the protocol's own ``write`` call;
   - type check: anything that is not exactly ``bytes`` (including wrong types, which
     must raise ``TypeError``) and empty writes go to Twisted's ``write``;
   - TLS is left alone: a ``startTLS`` transport (``self.TLS``), a transport carrying a
     ``TLSMemoryBIOProtocol`` (``ssl:`` endpoints) and every subclass of ``tcp.Server``
     (UNIX sockets, which may carry file descriptors) keep Twisted's ``write``.

2. ``DAPHNE_FAST_WS_SEND`` -- autobahn's ``sendData`` formats a debug line on every
   frame (``hltype(self.sendData)``, ``hlval(self.peer)``, ``hlval(len(data))``: four
   ``click.style`` calls and an ``inspect`` walk, ~3 us a frame, measured) even when the
   debug level is off, because the arguments are built before the no-op logger is
   called. Daphne's ``WebSocketProtocol`` gets a ``sendData`` that does the same work as
   autobahn's immediate-write branch (``transport.write`` + traffic counters) without
   building those arguments, and hands every other case (``sync``, ``chopsize``, a
   non-empty send queue, ``logOctets``, or the autobahn logger at debug/trace level) to
   autobahn's own method.

3. ``DAPHNE_LEAN_APP_CHECKER`` -- daphne's ``Server.application_checker`` runs once a
   second and starts with ``list(self.connections.items())``: one new 2-tuple per
   connection per second. Those tuples survive the young generations while the list
   lives, so the cyclic GC promotes thousands of objects a second and keeps running full
   collections over the whole heap (every held socket's objects): that is where the
   sweep's samples go in ``bench/profiles/held.collapsed.txt`` (705 of its 735 samples
   are on that one line). The replacement is the same method, line for line, except that
   it iterates ``zip(list(keys), list(values))`` -- two lists, no per-connection object
   (``zip`` reuses its result tuple when the loop unpacks it) and no call to the
   protocols' Python-level ``__hash__``.

4. ``DAPHNE_SLIM_QUEUES`` -- each connection's application input queue is a
   ``serving.transport.SlimQueue`` (daphne only calls ``put_nowait`` and ``get``)
   instead of an ``asyncio.Queue``, whose three deques and ``Event`` cost ~2.5 KB per
   held socket while empty.

5. ``DAPHNE_RELEASE_UPGRADE_REQUEST`` -- after a websocket upgrade the transport's
   producer is no longer the HTTP channel, so the channel and the upgrade request are
   freed instead of living as long as the socket.

6. ``DAPHNE_LAZY_LOG_ARGS`` -- autobahn builds the arguments of its debug lines before
   the no-op logger is called: on every new websocket a ``pformat`` of its ~40 options
   (``WebSocketProtocol._connectionMade``) and, on every connection and read, a few
   ``hltype``/``hlval`` (``click.style`` colouring and an ``inspect`` walk): ~0.3 ms per
   connection, 5 % of the event loop in a 10,000-socket reconnect storm
   (bench/README.md "Reconnect storm"). In the two autobahn modules daphne's websockets
   run (``autobahn.websocket.protocol``, ``autobahn.twisted.websocket``), where these
   three names are only ever log-line arguments, they become :class:`LogArgument`
   makers: the same text, formatted only if a line is written (debug on). The one other
   use, ``Timings.__str__``'s ``pformat``, gets autobahn's ``pformat`` back.

Each patch copies or replaces a few lines of Twisted, autobahn, txaio or daphne, so each
is installed only on the exact versions it was written for (``serving.versions``), checked
before any private name is imported; with any other version it is skipped with one
warning and the library code runs as is. ``tests/test_upstream_fingerprints.py`` pins
the upstream source each one was read against.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from concurrent.futures import CancelledError
from functools import partial

from .versions import written_for

logger = logging.getLogger(__name__)

_installed: set[str] = set()


# ---- 1. eager writes ------------------------------------------------------------------

_TCPServer = None  # twisted.internet.tcp.Server, set by _install_eager_writes
_twisted_write = None  # the write() tcp.Server had before (Twisted's, TLS-aware)
_TLS_PROTOCOLS: tuple[type, ...] = ()


def _eager_write(self, data) -> None:
    """``tcp.Server.write``: ``send()`` at once when nothing is buffered (see module doc)."""
    if (
        self.__class__ is not _TCPServer
        or data.__class__ is not bytes
        or not data
        or self._tempDataLen
        or self.dataBuffer
        or not self.connected
        or self.disconnecting
        or self._writeDisconnecting
        or self._writeDisconnected
        or self.TLS
        or (self.producer is not None and (self.producerPaused or not self.streamingProducer))
        or isinstance(self.protocol, _TLS_PROTOCOLS)
    ):
        return _twisted_write(self, data)
    sent = self.writeSomeData(data)  # at most SEND_LIMIT bytes; int, or CONNECTION_LOST
    if sent.__class__ is not int:
        sent = 0  # queue it all: doWrite meets the error and reports it the usual way
    if sent == len(data):
        return
    # Exactly what Twisted's write() does, with what the kernel did not take.
    rest = data[sent:] if sent else data
    self._tempDataBuffer.append(rest)
    self._tempDataLen += len(rest)
    self._maybePauseProducer()
    self.startWriting()


def _install_eager_writes() -> bool:
    global _TCPServer, _twisted_write, _TLS_PROTOCOLS
    if not written_for("DAPHNE_EAGER_WRITES", "Twisted", where="serving/daphne_tuning.py _eager_write"):
        return False
    from twisted.internet import tcp

    if tcp.Server.__dict__.get("write") is _eager_write:
        return True
    try:
        from twisted.protocols.tls import TLSMemoryBIOProtocol
    except ImportError:  # no pyOpenSSL: no TLS endpoints either
        _TLS_PROTOCOLS = ()
    else:
        _TLS_PROTOCOLS = (TLSMemoryBIOProtocol,)
    _TCPServer = tcp.Server
    _twisted_write = tcp.Server.write  # twisted.internet._newtls.ConnectionMixin.write
    tcp.Server.write = _eager_write
    return True


# ---- 2. autobahn sendData without per-frame debug formatting --------------------------

_autobahn_send_data = None  # autobahn's WebSocketProtocol.sendData
_no_op = None  # txaio's no-op logger method: debug is off when self.log.debug is it
_STATE_OPEN = _STATE_CONNECTING = _STATE_PROXY_CONNECTING = None


def _fast_send_data(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
    """autobahn ``WebSocketProtocol.sendData``, immediate branch, minus the debug line."""
    if sync or chopsize or self.send_queue or self.logOctets or self.log.debug is not _no_op:
        return _autobahn_send_data(self, data, sync, chopsize)
    self.transport.write(data)
    state = self.state
    if state == _STATE_OPEN:
        self.trafficStats.outgoingOctetsWireLevel += len(data)
    elif state == _STATE_CONNECTING or state == _STATE_PROXY_CONNECTING:
        self.trafficStats.preopenOutgoingOctetsWireLevel += len(data)


def _install_fast_ws_send() -> bool:
    global _autobahn_send_data, _no_op, _STATE_OPEN, _STATE_CONNECTING, _STATE_PROXY_CONNECTING
    if not written_for("DAPHNE_FAST_WS_SEND", "autobahn", "txaio", "daphne",
                                where="serving/daphne_tuning.py _fast_send_data"):
        return False
    from autobahn.websocket.protocol import WebSocketProtocol as AutobahnProtocol
    from daphne.ws_protocol import WebSocketProtocol as DaphneProtocol
    from txaio.tx import _no_op

    if "sendData" in DaphneProtocol.__dict__:
        return DaphneProtocol.__dict__["sendData"] is _fast_send_data
    _autobahn_send_data = AutobahnProtocol.sendData
    _STATE_OPEN = AutobahnProtocol.STATE_OPEN
    _STATE_CONNECTING = AutobahnProtocol.STATE_CONNECTING
    _STATE_PROXY_CONNECTING = AutobahnProtocol.STATE_PROXY_CONNECTING
    DaphneProtocol.sendData = _fast_send_data
    return True


# ---- 3. application_checker without a tuple per connection ----------------------------

def _lean_application_checker(self):
    """daphne 4.2.3 ``Server.application_checker``; only the loop header differs."""
    from twisted.internet import reactor

    connections = self.connections
    for protocol, details in zip(list(connections), list(connections.values()), strict=True):
        disconnected = details.get("disconnected", None)
        application_instance = details.get("application_instance", None)
        # First, see if the protocol disconnected and the app has taken
        # too long to close up
        if (
            disconnected
            and time.time() - disconnected > self.application_close_timeout
        ):
            if application_instance and not application_instance.done():
                _daphne_logger.warning(
                    "Application instance %r for connection %s took too long to shut down and was killed.",
                    application_instance,
                    repr(protocol),
                )
                application_instance.cancel()
        # Then see if the app is done and we should reap it
        if application_instance and application_instance.done():
            try:
                exception = application_instance.exception()
            except (CancelledError, asyncio.CancelledError):
                # Future cancellation. We can ignore this.
                pass
            else:
                if exception:
                    if isinstance(exception, KeyboardInterrupt):
                        # Protocol is asking the server to exit (likely during test)
                        self.stop()
                    else:
                        _daphne_logger.error(
                            "Exception inside application: %s",
                            exception,
                            exc_info=exception,
                        )
                        if not disconnected:
                            protocol.handle_exception(exception)
            del self.connections[protocol]["application_instance"]
            application_instance = None
        # Check to see if protocol is closed and app is closed so we can remove it
        if not application_instance and disconnected:
            del self.connections[protocol]
    reactor.callLater(1, self.application_checker)


_daphne_logger = logging.getLogger("daphne.server")  # the logger daphne's method uses


def _patch_daphne(setting: str, owner: str, method: str, replacement, *also: str):
    """Replace ``daphne.<owner>.<method>`` on the daphne version it was written for.

    ``owner`` is "server.Server" or "http_protocol.WebRequest"; ``also`` names other
    distributions the replacement depends on. Returns the method replaced, or None when a
    version is not the one in ``serving.versions``.
    """
    import importlib

    if not written_for(setting, "daphne", *also,
                                where=f"serving/daphne_tuning.py {replacement.__name__}"):
        return None
    module, cls_name = owner.rsplit(".", 1)
    cls = getattr(importlib.import_module(f"daphne.{module}"), cls_name)
    stock = getattr(cls, method)
    setattr(cls, method, replacement)
    return stock


def _install_lean_app_checker() -> bool:
    return _patch_daphne("DAPHNE_LEAN_APP_CHECKER", "server.Server", "application_checker",
                         _lean_application_checker) is not None


# ---- 4. slim application queues ------------------------------------------------------------

def _create_application(self, protocol, scope):
    """daphne 4.2.3 ``Server.create_application`` with a ``SlimQueue`` as the input queue."""
    from .transport import SlimQueue

    assert "application_instance" not in self.connections[protocol]
    input_queue = SlimQueue()
    scope.setdefault("asgi", {"version": "3.0"})
    application_instance = self.application(
        scope=scope,
        receive=input_queue.get,
        send=partial(self.handle_reply, protocol),
    )
    if protocol not in self.connections:
        return None
    self.connections[protocol]["application_instance"] = asyncio.ensure_future(
        application_instance,
        loop=asyncio.get_event_loop(),
    )
    return input_queue


def _install_slim_queues() -> bool:
    return _patch_daphne("DAPHNE_SLIM_QUEUES", "server.Server", "create_application",
                         _create_application) is not None


# ---- 5. let the upgrade request go ------------------------------------------------------

_stock_web_request_process = None


def _process_then_release(self):
    """daphne's ``WebRequest.process``; after a websocket upgrade, drop the HTTP channel.

    The upgrade hands the TCP transport to the websocket protocol, but the transport's
    ``producer`` stays the ``HTTPChannel`` (registered when the HTTP connection began),
    which keeps itself and the upgrade request (two ``Headers``, the body buffer, ~30
    lists) alive for the socket's whole life. The channel's idle timeout is already off
    (Twisted stops it while a request is in progress, and this one never ends).
    """
    transport, channel = self.transport, self.channel
    result = _stock_web_request_process(self)
    if self.transport is None and transport is not None and channel is not None:
        if getattr(transport, "producer", None) is channel:
            transport.unregisterProducer()
    return result


def _install_release_upgrade_request() -> bool:
    global _stock_web_request_process
    stock = _patch_daphne("DAPHNE_RELEASE_UPGRADE_REQUEST", "http_protocol.WebRequest", "process",
                          _process_then_release, "Twisted")
    if stock is None:
        return False
    _stock_web_request_process = stock
    return True


# ---- 6. autobahn's debug-line arguments formatted only when written ------------------

class LogArgument:
    """``fn(*args)``, computed when a log line formats it: never while debug is off."""

    __slots__ = ("fn", "args")

    def __init__(self, fn, *args) -> None:
        self.fn, self.args = fn, args

    def __str__(self) -> str:
        return self.fn(*self.args)

    __repr__ = __str__  # a structured log observer may repr() its arguments

    def __format__(self, spec: str) -> str:
        return format(self.fn(*self.args), spec)


def _lazy(fn):
    def maker(*args):
        return LogArgument(fn, *args)

    maker.__name__ = maker.__qualname__ = f"lazy_{fn.__name__}"
    maker.upstream = fn
    return maker


def _install_lazy_log_args() -> bool:
    if not written_for("DAPHNE_LAZY_LOG_ARGS", "autobahn",
                       where="serving/daphne_tuning.py _install_lazy_log_args"):
        return False
    from autobahn.twisted import websocket as twisted_websocket
    from autobahn.websocket import protocol

    for module, names in ((protocol, ("hltype", "hlval", "pformat")), (twisted_websocket, ("hltype", "hlval"))):
        for name in names:
            current = getattr(module, name)
            if getattr(current, "upstream", None) is None:
                setattr(module, name, _lazy(current))
    if "__str__" in protocol.Timings.__dict__ and protocol.Timings.__str__.__module__ == protocol.__name__:
        protocol.Timings.__str__ = _timings_str
    return True


def _timings_str(self) -> str:
    """autobahn ``Timings.__str__`` (``pformat`` is a log-argument maker in its module now)."""
    import pprint

    return pprint.pformat(self._timings)


# ---- entry point ----------------------------------------------------------------------

_DAPHNE_ENTRY_POINTS = (
    "daphne.cli",  # python -m daphne / the daphne script
    "daphne.management.commands.runserver",  # manage.py runserver with daphne installed
    "daphne.testing",  # DaphneProcess (channels' live-server tests)
)


def under_daphne() -> bool:
    """True in a process that serves with daphne.

    ``daphne.server`` alone is not enough: daphne's AppConfig imports it (to install the
    asyncio reactor early) in every Django process that lists "daphne" in INSTALLED_APPS,
    pytest and ``manage.py migrate`` included. Each way of serving with daphne imports
    one of ``_DAPHNE_ENTRY_POINTS`` before it loads the ASGI application.
    """
    return "twisted.internet.reactor" in sys.modules and any(
        name in sys.modules for name in _DAPHNE_ENTRY_POINTS
    )


def install(*, eager_writes: bool = True, fast_ws_send: bool = True,
            lean_app_checker: bool = True, slim_queues: bool = True,
            release_upgrade_request: bool = True, lazy_log_args: bool = True) -> frozenset[str]:
    """Install the enabled patches (idempotent); returns the names installed so far."""
    for name, enabled, fn in (
        ("eager_writes", eager_writes, _install_eager_writes),
        ("fast_ws_send", fast_ws_send, _install_fast_ws_send),
        ("lean_app_checker", lean_app_checker, _install_lean_app_checker),
        ("slim_queues", slim_queues, _install_slim_queues),
        ("release_upgrade_request", release_upgrade_request, _install_release_upgrade_request),
        ("lazy_log_args", lazy_log_args, _install_lazy_log_args),
    ):
        if enabled and name not in _installed and fn():
            _installed.add(name)
    return frozenset(_installed)


def installed() -> frozenset[str]:
    return frozenset(_installed)
