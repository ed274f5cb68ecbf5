"""Fingerprints of the upstream code the serving patches copy, replace or hook into.

Each row pins, for one upstream function or method, the distribution version and a hash
of its source (``inspect.getsource``) as it was when the patch named beside it was
written or last re-read. An upgrade that changes that source fails here, naming the patch
to re-read; an upgrade of the distribution itself fails every row of it (the patches stay
off on another version anyway: ``serving.versions``).

After an upgrade (``make lock UPGRADE_PACKAGE=...``), for each failing row:

1. read the upstream function's new source against the patch named in the failure, and
   fix the patch if the change matters to it (the function's docstring or the module's
   says what it relies on);
2. set the version in ``serving/versions.py`` ``WRITTEN_FOR``;
3. print the new table with ``.venv/bin/python tests/test_upstream_fingerprints.py`` and
   paste the rows you re-read over the old ones (the script prints every row with the
   installed version and the current hash; only paste what you actually re-read).

Then run the serving tests (tests/test_transport.py, tests/test_daphne_tuning.py,
tests/test_server_runtime.py, tests/test_serving_stock_paths.py and the real-time ones).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from serving.versions import WRITTEN_FOR  # noqa: E402


class Fingerprint(NamedTuple):
    dist: str
    version: str
    target: str  # "module:Qualified.name"
    digest: str  # sha256 of inspect.getsource(target), first 16 hex digits
    patch: str  # what in this project to re-read when the target changes


FINGERPRINTS = [
    # python-engineio: serving/transport.py replaces these (lean sockets, packet fixes)
    Fingerprint("python-engineio", "4.15.1", "engineio.async_socket:AsyncSocket.poll",
                "826f58a9f3606db2", "serving/transport.py poll"),
    Fingerprint("python-engineio", "4.15.1", "engineio.async_socket:AsyncSocket.receive",
                "a91ae36ec2fb5340", "serving/transport.py receive"),
    Fingerprint("python-engineio", "4.15.1", "engineio.async_socket:AsyncSocket.send",
                "0437276ccba7ab09", "serving/transport.py send, send_nowait"),
    Fingerprint("python-engineio", "4.15.1", "engineio.async_socket:AsyncSocket.handle_post_request",
                "82dca119a261a959", "serving/transport.py handle_post_request"),
    Fingerprint("python-engineio", "4.15.1", "engineio.async_socket:AsyncSocket.handle_get_request",
                "05eaae9f0a60d9be", "serving/transport.py handle_get_request (a second long-poll closes)"),
    Fingerprint("python-engineio", "4.15.1", "engineio.async_server:AsyncServer._handle_connect",
                "5bd7edc1d1ae115a", "serving/transport.py send_exact_open (rewrites the OPEN it builds)"),
    Fingerprint("python-engineio", "4.15.1", "engineio.async_server:AsyncServer.handle_request",
                "1a8c878e35166cfe", "serving/transport.py ProtocolGate (relies on its 400 for EngineIOError)"),
    Fingerprint("python-engineio", "4.15.1", "engineio.base_server:BaseServer._ok",
                "b8f717402eac2b0d", "serving/transport.py ProtocolGate (rewrites its b'OK' body to 'ok')"),
    Fingerprint("python-engineio", "4.15.1", "engineio.async_socket:AsyncSocket.close",
                "faa2e93902543244", "serving/transport.py drop, _refuse"),
    Fingerprint("python-engineio", "4.15.1", "engineio.async_socket:AsyncSocket.schedule_ping",
                "fe316639159cd70d", "serving/transport.py schedule_ping, Heartbeat"),
    Fingerprint("python-engineio", "4.15.1", "engineio.async_socket:AsyncSocket._send_ping",
                "67db82a704ea49d0", "serving/transport.py Heartbeat"),
    Fingerprint("python-engineio", "4.15.1", "engineio.async_socket:AsyncSocket._websocket_handler",
                "27f120df4d717a24", "serving/transport.py websocket_handler"),
    Fingerprint("python-engineio", "4.15.1", "engineio.async_server:AsyncServer.create_queue",
                "5ff5673a0c017681", "serving/transport.py SlimQueue (install: create_queue)"),
    Fingerprint("python-engineio", "4.15.1", "engineio.async_server:AsyncServer._service_task",
                "b6358bda51d0b34b", "serving/transport.py service_task"),
    Fingerprint("python-engineio", "4.15.1", "engineio.async_drivers.asgi:translate_request",
                "39e74733f1fe46aa", "serving/transport.py translate_request, RequestBody"),
    # python-socketio: the project's Server and ChannelLayerManager override these
    Fingerprint("python-socketio", "5.18.1", "socketio.async_server:AsyncServer._handle_eio_message",
                "bef50fc0e1635921", "realtime/server.py Server._handle_eio_message (packet checks)"),
    Fingerprint("python-socketio", "5.18.1", "socketio.async_server:AsyncServer._handle_event",
                "65178105ef8b593d", "realtime/server.py lifecycle_name_sent (client events named connect)"),
    Fingerprint("python-socketio", "5.18.1", "socketio.async_server:AsyncServer._handle_connect",
                "c97c480cf777de36", "realtime/server.py lifecycle_name_sent (a real connect is pending)"),
    Fingerprint("python-socketio", "5.18.1", "socketio.async_server:AsyncServer._handle_disconnect",
                "c0b32ada5b371230", "realtime/server.py lifecycle_name_sent (a real disconnect is pending)"),
    Fingerprint("python-socketio", "5.18.1", "socketio.async_manager:AsyncManager.emit",
                "01ccd5b82b4f955e", "realtime/manager.py ChannelLayerManager.deliver"),
    Fingerprint("python-socketio", "5.18.1", "socketio.async_pubsub_manager:AsyncPubSubManager.emit",
                "6cc46e0ff9b6d7cf", "realtime/manager.py ChannelLayerManager._handle_emit (local emits)"),
    Fingerprint("python-socketio", "5.18.1", "socketio.async_pubsub_manager:AsyncPubSubManager._handle_emit",
                "4284671be955f644", "realtime/manager.py ChannelLayerManager._handle_emit, _emit_here"),
    Fingerprint("python-socketio", "5.18.1", "socketio.async_pubsub_manager:AsyncPubSubManager._thread",
                "fa8d075729aac64d", "realtime/manager.py ChannelLayerManager._handle_emit (remote emits)"),
    Fingerprint("python-socketio", "5.18.1", "socketio.base_manager:BaseManager.pre_connect",
                "bfdba4c0c8f1bd8a", "realtime/manager.py PendingSids (append, remove, in, len on pending sids)"),
    Fingerprint("python-socketio", "5.18.1", "socketio.base_manager:BaseManager.connect",
                "a0214ac7cb24346c", "realtime/manager.py PendingSids (append, remove, in, len on pending sids)"),
    Fingerprint("python-socketio", "5.18.1", "socketio.base_manager:BaseManager.is_pre_connected",
                "40a897c4ab2ccc5d", "realtime/manager.py PendingSids (append, remove, in, len on pending sids)"),
    Fingerprint("python-socketio", "5.18.1", "socketio.base_manager:BaseManager.is_connected",
                "d37721466718b4f4", "realtime/manager.py PendingSids (append, remove, in, len on pending sids)"),
    Fingerprint("python-socketio", "5.18.1", "socketio.base_manager:BaseManager.pre_disconnect",
                "18a8d01ed87a9682", "realtime/manager.py PendingSids (append, remove, in, len on pending sids)"),
    Fingerprint("python-socketio", "5.18.1", "socketio.base_manager:BaseManager.basic_disconnect",
                "2933b50bc4b2ea7b", "realtime/manager.py RoomIndex.basic_disconnect"),
    Fingerprint("python-socketio", "5.18.1", "socketio.base_manager:BaseManager.basic_enter_room",
                "3f509586d2d7f47e", "realtime/manager.py RoomIndex.basic_enter_room"),
    Fingerprint("python-socketio", "5.18.1", "socketio.base_manager:BaseManager.basic_leave_room",
                "e27f3eea06d1c6a6", "realtime/manager.py RoomIndex.basic_leave_room"),
    Fingerprint("python-socketio", "5.18.1", "socketio.base_manager:BaseManager.get_rooms",
                "56a1017f85af9f91", "realtime/manager.py RoomIndex.get_rooms"),
    # daphne: serving/daphne_tuning.py replaces these; serving/transport.py writes to its websockets
    Fingerprint("daphne", "4.2.3", "daphne.server:Server.application_checker",
                "ccb688341a7d0bc1", "serving/daphne_tuning.py _lean_application_checker"),
    Fingerprint("daphne", "4.2.3", "daphne.server:Server.create_application",
                "f1e300b4ecf636c8", "serving/daphne_tuning.py _create_application"),
    Fingerprint("daphne", "4.2.3", "daphne.http_protocol:WebRequest.process",
                "e9babd1c97ce710b", "serving/daphne_tuning.py _process_then_release"),
    Fingerprint("daphne", "4.2.3", "daphne.server:Server.handle_reply",
                "9d9dbaea6de0657a", "serving/transport.py DaphneWebsocket.of"),
    Fingerprint("daphne", "4.2.3", "daphne.ws_protocol:WebSocketProtocol.handle_reply",
                "5331423b1cf2016a", "serving/transport.py DaphneWebsocket.write, close"),
    # autobahn and txaio: DAPHNE_FAST_WS_SEND
    Fingerprint("autobahn", "26.10.2", "autobahn.websocket.protocol:WebSocketProtocol.sendData",
                "5dcca425b048b07e", "serving/daphne_tuning.py _fast_send_data"),
    Fingerprint("txaio", "26.6.1", "txaio.tx:_no_op",
                "be0e6abca0ae92a4", "serving/daphne_tuning.py _fast_send_data (debug off test)"),
    Fingerprint("txaio", "26.6.1", "txaio.tx:Logger._set_log_level",
                "674ffbcc3702cd37", "serving/daphne_tuning.py _fast_send_data (debug off test)"),
    # autobahn: DAPHNE_LAZY_LOG_ARGS relies on hltype, hlval and pformat being log-line
    # arguments only, everywhere in these two modules (and Timings.__str__ the one exception)
    Fingerprint("autobahn", "26.10.2", "autobahn.websocket.protocol:",
                "f14b152902fd423f", "serving/daphne_tuning.py _install_lazy_log_args, _timings_str"),
    Fingerprint("autobahn", "26.10.2", "autobahn.twisted.websocket:",
                "be17f344b1ed478b", "serving/daphne_tuning.py _install_lazy_log_args"),
    # Twisted: DAPHNE_EAGER_WRITES copies the buffering of write() and relies on doWrite
    Fingerprint("Twisted", "26.10.0", "twisted.internet.abstract:FileDescriptor.write",
                "3e46c97fc173bc7e", "serving/daphne_tuning.py _eager_write"),
    Fingerprint("Twisted", "26.10.0", "twisted.internet._newtls:ConnectionMixin.write",
                "ea311df0946d3f99", "serving/daphne_tuning.py _eager_write (the write it falls back to)"),
    Fingerprint("Twisted", "26.10.0", "twisted.internet.abstract:FileDescriptor.doWrite",
                "a986d7b1b1054e43", "serving/daphne_tuning.py _eager_write (the queued remainder)"),
    Fingerprint("Twisted", "26.10.0", "twisted.internet.tcp:Connection.writeSomeData",
                "2dd0d4209260b94e", "serving/daphne_tuning.py _eager_write"),
    Fingerprint("Twisted", "26.10.0", "twisted.internet.abstract:FileDescriptor._maybePauseProducer",
                "529bd8438e1a279f", "serving/daphne_tuning.py _eager_write"),
    # Django: serving/handlers.py replaces these ASGIHandler methods and calls handle()
    Fingerprint("Django", "5.2.19", "django.core.handlers.asgi:ASGIHandler.__init__",
                "41379d4f4b69f900", "serving/handlers.py OneHopASGIHandler.__init__"),
    Fingerprint("Django", "5.2.19", "django.core.handlers.asgi:ASGIHandler.__call__",
                "f756809e9c9308dc", "serving/handlers.py OneHopASGIHandler.__call__"),
    Fingerprint("Django", "5.2.19", "django.core.handlers.asgi:ASGIHandler.handle",
                "98faeb5bef800331", "serving/handlers.py OneHopASGIHandler.__call__ (calls it)"),
    Fingerprint("Django", "5.2.19", "django.core.handlers.base:BaseHandler.get_response_async",
                "ad82c920df0cebbb", "serving/handlers.py OneHopASGIHandler.get_response_async"),
]


_pristine: dict[str, object] = {}


def pristine(module: str):
    """A fresh copy of an upstream module, as its file defines it: the imported module's
    classes may carry this project's patches (a server started in-process installs them)."""
    if module not in _pristine:
        spec = importlib.util.find_spec(module)
        copy = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(copy)
        _pristine[module] = copy
    return _pristine[module]


def resolve(target: str):
    module, _, qualname = target.partition(":")
    obj = pristine(module)
    for part in qualname.split(".") if qualname else ():  # "module:": the whole module
        obj = vars(obj)[part]  # the class's own attribute, not an inherited one
    return obj


def digest_of(target: str) -> str:
    return hashlib.sha256(inspect.getsource(resolve(target)).encode()).hexdigest()[:16]


@pytest.mark.parametrize("row", FINGERPRINTS, ids=[row.target for row in FINGERPRINTS])
def test_upstream_source_is_the_one_the_patch_was_read_against(row: Fingerprint):
    installed = importlib.metadata.version(row.dist)
    assert installed == row.version, (
        f"{row.dist} is {installed}, but {row.patch} was read against {row.target} of {row.dist} "
        f"{row.version}: re-read it, then update serving/versions.py and this fingerprint "
        f"(see this file's docstring)")
    digest = digest_of(row.target)
    assert digest == row.digest, (
        f"{row.target} changed in {row.dist} {installed} (source hash {digest}, pinned {row.digest}): "
        f"re-read {row.patch} against it, then update this fingerprint (see this file's docstring)")


def test_the_pinned_versions_are_the_ones_the_patches_check():
    pinned = {row.dist: row.version for row in FINGERPRINTS}
    assert pinned == WRITTEN_FOR, "serving/versions.py WRITTEN_FOR and these fingerprints disagree"
    assert len({(row.dist, row.version) for row in FINGERPRINTS}) == len(pinned), "two versions of one dist"


def test_a_changed_source_fails_with_the_name_of_the_patch(tmp_path):
    """The failure message is the point of this file: check it on a row made to mismatch."""
    row = FINGERPRINTS[0]._replace(digest="0" * 16)
    with pytest.raises(AssertionError) as failure:
        test_upstream_source_is_the_one_the_patch_was_read_against(row)
    assert "re-read serving/transport.py poll" in str(failure.value)
    assert "engineio.async_socket:AsyncSocket.poll changed in python-engineio 4.15.1" in str(failure.value)


if __name__ == "__main__":
    # Prints the table with the installed versions and the current hashes (see the docstring).
    for row in FINGERPRINTS:
        print(f'    Fingerprint("{row.dist}", "{importlib.metadata.version(row.dist)}", "{row.target}",\n'
              f'                "{digest_of(row.target)}", "{row.patch}"),')
