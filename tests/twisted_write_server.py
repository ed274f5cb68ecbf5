"""A Twisted TCP server on daphne's reactor, for tests/test_daphne_tuning.py.

Run as ``python tests/twisted_write_server.py PORTFILE`` with ``EAGER=1`` (install
serving.daphne_tuning's eager writes) or ``EAGER=0`` (Twisted as shipped). It imports
``daphne.server`` first, which installs Twisted's asyncio reactor exactly as daphne does,
listens on 127.0.0.1 (port written to PORTFILE) and obeys one command line per
connection; everything it observes is printed to stdout as ``key=value`` lines.

Commands:
  ``bulk N SIZE END``  write N chunks of SIZE bytes (chunk i = i as 4 bytes, repeated)
                       in one go, then END: ``close`` (loseConnection), ``half``
                       (loseWriteConnection; then echo what the peer still sends, and
                       close on its EOF) or ``keep``.
  ``producer TOTAL``   a streaming producer writes 64 KiB chunks until paused, resumes
                       when the transport drains, up to TOTAL bytes, then closes.
  ``typecheck``        write a str: must raise TypeError; reply ``TypeError`` and close.
  ``hold``             keep the connection, stop reading it (so a reset by the peer is
                       only seen by the next write); another connection's ``poke``
                       writes to it.
  ``poke``             write 64 KiB to every ``hold`` connection (from this connection's
                       dataReceived, so before the reactor has polled the held socket).
"""

from __future__ import annotations

import os
import sys

import daphne.server  # noqa: F401  (installs the asyncio reactor, as daphne does)
from twisted.internet import protocol, reactor, tcp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from serving import daphne_tuning  # noqa: E402

if os.environ.get("EAGER", "1") == "1":
    daphne_tuning.install(eager_writes=True, fast_ws_send=False, lean_app_checker=False)


def out(**kw) -> None:
    print(" ".join(f"{k}={v}" for k, v in kw.items()), flush=True)


def chunk(i: int, size: int) -> bytes:
    return i.to_bytes(4, "big") * (size // 4)


held: list[protocol.Protocol] = []


class Producer:
    def __init__(self, proto, total):
        self.proto, self.total, self.sent = proto, total, 0
        self.paused = False
        self.pauses = self.resumes = 0

    def pauseProducing(self):
        self.paused = True
        self.pauses += 1

    def resumeProducing(self):
        self.paused = False
        self.resumes += 1
        reactor.callLater(0, self.pump)

    def stopProducing(self):
        self.paused = True

    def pump(self):
        t = self.proto.transport
        while not self.paused and self.sent < self.total:
            t.write(chunk(self.sent // 65536, 65536))
            self.sent += 65536
        if self.sent >= self.total:
            t.unregisterProducer()
            out(producer_done=1, pauses=self.pauses, resumes=self.resumes)
            t.loseConnection()


class Cmd(protocol.Protocol):
    def connectionMade(self):
        self.buf = b""
        self.mode = None
        self.echo = 0

    def dataReceived(self, data):
        if self.mode == "half":
            self.echo += len(data)
            return
        self.buf += data
        if self.mode is None and b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self.run(line.decode().split())

    def run(self, argv):
        t = self.transport
        self.mode = argv[0]
        out(cmd=" ".join(argv).replace(" ", "_"),
            patched=int(tcp.Server.__dict__.get("write") is daphne_tuning._eager_write))
        if argv[0] == "bulk":
            n, size, end = int(argv[1]), int(argv[2]), argv[3]
            t.write(chunk(0, size))
            # 1 if the first write went to the kernel at once (nothing left queued)
            out(first_sent_at_once=int(not t._tempDataLen and not t.dataBuffer))
            for i in range(1, n):
                t.write(chunk(i, size))
            out(queued_after_writes=t._tempDataLen + len(t.dataBuffer) - t.offset)
            if end == "close":
                t.loseConnection()
            elif end == "half":
                self.mode = "half"
                t.loseWriteConnection()
        elif argv[0] == "producer":
            p = Producer(self, int(argv[1]))
            t.registerProducer(p, True)
            p.pump()
        elif argv[0] == "typecheck":
            try:
                t.write("not bytes")
            except TypeError:
                t.write(b"TypeError\n")
            else:
                t.write(b"no error\n")
            t.loseConnection()
        elif argv[0] == "hold":
            held.append(self)
            t.write(b"held\n")
            # Stop reading: a reset by the peer then surfaces only when we next write.
            t.stopReading()
        elif argv[0] == "poke":
            for h in held:
                h.transport.write(chunk(7, 65536))
                out(poke_returned=1, poke_queued=h.transport._tempDataLen)
            t.write(b"poked\n")
            t.loseConnection()

    def readConnectionLost(self):
        out(read_eof=1, echoed=self.echo)
        self.transport.loseConnection()

    def writeConnectionLost(self):
        out(write_closed=1)

    def connectionLost(self, reason):
        out(lost=reason.type.__name__, mode=self.mode)


if __name__ == "__main__":
    from twisted.internet.interfaces import IHalfCloseableProtocol
    from zope.interface import directlyProvides

    class Factory(protocol.Factory):
        def buildProtocol(self, addr):
            p = Cmd()
            directlyProvides(p, IHalfCloseableProtocol)
            return p

    port = reactor.listenTCP(0, Factory(), interface="127.0.0.1")
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(port.getHost().port))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    reactor.run()
