"""realtime.manager.RoomIndex: each socket's rooms, kept in step with python-socketio's map,
with its copies of python-socketio's methods (the serving process, where serving installed
its python-socketio group) and with python-socketio's own (tests, other versions)."""

from __future__ import annotations

import random

import pytest
from socketio.base_manager import BaseManager

import serving
from realtime.manager import RoomIndex


@pytest.fixture(autouse=True, params=["overrides", "stock"])
def socketio_overrides(request, monkeypatch):
    groups = {serving.SOCKETIO_OVERRIDES} if request.param == "overrides" else set()
    monkeypatch.setattr(serving, "_installed", groups)


class Indexed(RoomIndex, BaseManager):
    pass


class FakeEio:
    def __init__(self) -> None:
        self.n = 0

    def generate_id(self) -> str:
        self.n += 1
        return f"sid{self.n}"


class FakeServer:
    packet_class = type("Packet", (), {"json": None})

    def __init__(self) -> None:
        self.eio = FakeEio()


def derived(manager: BaseManager) -> dict:
    """What the index must say, from the room -> sockets map alone."""
    out: dict = {}
    for namespace, rooms in manager.rooms.items():
        for room, members in rooms.items():
            for sid in members:
                out.setdefault((namespace, sid), set()).add(room)
    return out


def test_index_matches_the_room_map_through_random_joins_leaves_and_disconnects():
    rng = random.Random(5)
    manager = Indexed()
    manager.set_server(FakeServer())
    connected: list[tuple[str, str]] = []
    for step in range(3000):
        action = rng.random()
        if action < 0.3 or not connected:
            namespace = rng.choice(["/", "/admin"])
            sid = manager.connect(f"eio{step}", namespace)
            connected.append((namespace, sid))
        elif action < 0.65:
            namespace, sid = rng.choice(connected)
            manager.basic_enter_room(sid, namespace, f"room:{rng.randrange(40)}")
        elif action < 0.85:
            namespace, sid = rng.choice(connected)
            manager.basic_leave_room(sid, namespace, f"room:{rng.randrange(40)}")
        elif action < 0.9:
            namespace = rng.choice(["/", "/admin"])
            if namespace in manager.rooms:
                manager.basic_close_room(f"room:{rng.randrange(40)}", namespace)
        else:
            namespace, sid = connected.pop(rng.randrange(len(connected)))
            manager.basic_disconnect(sid, namespace)
        assert manager.rooms_of == derived(manager), step
    for namespace, sid in connected:
        assert sorted(manager.get_rooms(sid, namespace)) == sorted(
            room for room in derived(manager)[(namespace, sid)] if room is not None)


def test_disconnect_leaves_every_room_and_forgets_the_socket():
    manager = Indexed()
    manager.set_server(FakeServer())
    sid = manager.connect("eio1", "/")
    other = manager.connect("eio2", "/")
    for room in ("user:1", "patient:1", "role:PATIENT"):
        manager.basic_enter_room(sid, "/", room)
    manager.basic_enter_room(other, "/", "role:PATIENT")
    manager.basic_disconnect(sid, "/")
    assert (("/", sid)) not in manager.rooms_of
    assert all(sid not in members for members in manager.rooms["/"].values())
    assert list(manager.get_participants("/", "role:PATIENT")) == [(other, "eio2")]
    assert manager.get_rooms(sid, "/") == []


def test_connecting_sockets_are_found_in_one_step_and_in_order():
    """python-socketio's pending lists were scanned at every connect: quadratic in a storm."""
    from realtime.manager import PendingSids

    manager = Indexed()
    manager.set_server(FakeServer())
    sids = [manager.pre_connect(f"eio{k}", "/") for k in range(3)]
    overrides = serving.enabled(serving.SOCKETIO_OVERRIDES)
    assert isinstance(manager.pending_connect["/"], PendingSids) is overrides
    assert list(manager.pending_connect["/"]) == sids
    assert [manager.is_connected(sid, "/") for sid in sids] == [False, False, False]
    assert manager.connect(sids[1], "/") == sids[1]
    assert [manager.is_connected(sid, "/") for sid in sids] == [False, True, False]
    assert list(manager.pending_connect["/"]) == [sids[0], sids[2]]
    manager.pre_disconnect(sids[1], "/")
    assert manager.is_connected(sids[1], "/") is False
    assert isinstance(manager.pending_disconnect["/"], PendingSids) is overrides
    manager.basic_disconnect(sids[1], "/")
    assert "/" not in manager.pending_disconnect  # emptied: the namespace's entry goes
    for sid in (sids[0], sids[2]):
        manager.connect(sid, "/")
    assert "/" not in manager.pending_connect
    assert all(manager.is_connected(sid, "/") for sid in (sids[0], sids[2]))
    if overrides:
        with pytest.raises(ValueError):
            PendingSids().remove("absent")  # as list.remove
