"""The graceful stop of a real daphne (serving/graceful.py), without nginx: what the kernel
had already queued when SIGTERM came is answered, not reset.

A reset queued connection is what a client behind nginx sees as a 502 that nginx never
retries for a POST (tests/test_nginx_cluster.py's rolling restart met it in CI).
"""

from __future__ import annotations

import signal
import socket
import time

import pytest

from serving.listen_backlog import queued, refuse_new_handshakes

from .live import start_stack

SHUTDOWN_TIMEOUT = 6.0
QUEUED = 40


def test_a_filtered_listening_socket_holds_off_new_handshakes_and_keeps_the_queued_ones():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        address = listener.getsockname()
        early = socket.create_connection(address, timeout=5)
        early.sendall(b"request")
        assert refuse_new_handshakes(listener)
        late = socket.socket()
        late.settimeout(0.3)
        with pytest.raises(TimeoutError):  # its SYN was dropped: TCP would retry in 1 s
            late.connect(address)
        late.close()
        assert queued(listener)
        accepted, _ = listener.accept()
        assert accepted.recv(16) == b"request"  # the queued one, whole, and it still talks
        accepted.sendall(b"answer")
        assert early.recv(16) == b"answer"
        assert not queued(listener)
        accepted.close()
        early.close()
    with socket.socket() as again, pytest.raises(ConnectionRefusedError):
        again.connect(address)  # once closed: refused, which nginx retries elsewhere


def _read_response(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        chunks.append(b"<reset>")
    return b"".join(chunks)


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_sigterm_answers_every_request_already_queued_then_refuses(tmp_path):
    """SIGTERM reaches a process while QUEUED connections, each with its request sent, wait
    for it (the process is stopped meanwhile, like a busy reactor): every one is answered
    as usual (no reset, no 503), the process exits 0 within the bound, and a connection
    after that is refused."""
    stack = start_stack(tmp_path, extra_env={"SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_TIMEOUT)})
    server = stack.servers[0]
    clients: list[socket.socket] = []
    try:
        server.proc.send_signal(signal.SIGSTOP)
        for _ in range(QUEUED):
            client = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            clients.append(client)
        sent = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.send_signal(signal.SIGCONT)
        answers = [_read_response(c) for c in clients]
        code = server.proc.wait(SHUTDOWN_TIMEOUT + 5)
        elapsed = time.monotonic() - sent
        log = server.log.read_text(errors="replace")
        statuses = [a.split(b"\r\n", 1)[0].decode(errors="replace") for a in answers]
        assert statuses == ["HTTP/1.1 200 OK"] * QUEUED, (statuses, log[-3000:])
        assert code == 0 and elapsed <= SHUTDOWN_TIMEOUT, (code, elapsed, log[-3000:])
        assert "queued connections taken in" in log and "graceful stop: drained in" in log, log[-3000:]
        with socket.socket() as late, pytest.raises(ConnectionRefusedError):
            late.connect(("127.0.0.1", server.port))
    finally:
        for client in clients:
            client.close()
        stack.close()
