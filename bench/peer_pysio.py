"""Peer: a bare python-socketio ``AsyncServer`` on uvicorn, with the project's shape.

    .venv/bin/python bench/peer_pysio.py PORT

Every socket joins ``role:PATIENT`` on connect (no authentication); ``POST /broadcast``
``{message, type}`` emits ``notification:general`` ``{type, message, data, eventId,
emittedAt}`` to ``role:PATIENT`` (the payload this project sends) and answers 201 with it.
Same ping interval/timeout as the project (25 s / 20 s). Nothing from Django.
"""

from __future__ import annotations

import datetime
import itertools
import json
import sys

import socketio
import uvicorn

sio = socketio.AsyncServer(
    async_mode="asgi", cors_allowed_origins="*", ping_interval=25, ping_timeout=20,
    max_http_buffer_size=64 * 1024, logger=False, engineio_logger=False,
)
ids = itertools.count(1)


@sio.event
async def connect(sid, environ, auth=None):
    await sio.enter_room(sid, "role:PATIENT")


async def http_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > 65536:
            break
    if scope["method"] != "POST" or scope["path"] != "/broadcast":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    data = json.loads(body)
    payload = {
        "type": data.get("type") or "info",
        "message": str(data["message"]),
        "data": {"cible": {"role": "PATIENT"}},
        "eventId": next(ids),
        "emittedAt": datetime.datetime.now(datetime.UTC).isoformat(),
    }
    await sio.emit("notification:general", payload, to="role:PATIENT")
    out = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": out})


app = socketio.ASGIApp(sio, other_asgi_app=http_app)

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 3200
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
