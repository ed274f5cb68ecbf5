"""A bare ASGI app for tests/test_daphne_tuning.py: a websocket echo, and GET /count, which
answers how many Twisted HTTP channels are alive (after a full collection).

    RELEASE=1 python -m daphne -p PORT tests.daphne_upgrade_app:app
"""

import gc
import os

from serving import daphne_tuning

if os.environ.get("RELEASE") == "1":
    daphne_tuning._install_release_upgrade_request()


async def app(scope, receive, send):
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message.get("text")})
    elif scope["type"] == "http":
        await receive()
        from twisted.web.http import HTTPChannel

        gc.collect()
        alive = sum(1 for o in gc.get_objects() if isinstance(o, HTTPChannel))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": str(alive).encode()})
