"""Engine.IO socket behaviour we rely on, in one place (python-engineio 4.x).

``AsyncSocket.poll`` feeds both transports: the long-polling GET and the websocket
writer task. The stock version has two costs we do not want:

- over long-polling it answers with everything queued, but python-engineio clients
  refuse a payload of more than ``Payload.max_decode_packets`` (16) packets and drop the
  connection: a burst of 17+ events disconnected python-socketio clients on polling. A
  poll now answers with at most that many; the rest goes in the next poll.
- it wraps every ``queue.get()`` in ``asyncio.wait_for`` (a Task, a Future and a timer
  per packet). A websocket writer needs no timeout: engine.io's ping task closes a dead
  socket and ``close()`` queues ``None`` to end the writer. Only a long-poll keeps its
  timeout (it must answer the HTTP request eventually).
"""

from __future__ import annotations

import asyncio

from engineio import async_socket, exceptions, payload

MAX_PACKETS_PER_POLL = payload.Payload.max_decode_packets


async def poll(self) -> list:
    queue = self.queue
    try:
        if not queue.empty():
            first = queue.get_nowait()
        elif self.upgraded:
            first = await queue.get()
        else:
            first = await asyncio.wait_for(
                queue.get(), self.server.ping_interval + self.server.ping_timeout
            )
    except (TimeoutError, asyncio.CancelledError):
        raise exceptions.QueueEmpty() from None
    queue.task_done()
    if first is None:
        return []
    packets = [first]
    limit = None if self.upgraded else MAX_PACKETS_PER_POLL
    while limit is None or len(packets) < limit:
        try:
            pkt = queue.get_nowait()
        except asyncio.QueueEmpty:
            break
        queue.task_done()
        if pkt is None:
            queue.put_nowait(None)  # leave the close marker for the next poll
            break
        packets.append(pkt)
    return packets


def install() -> None:
    async_socket.AsyncSocket.poll = poll



