"""Room names, in one place: the seed's names plus ``cabinet:{id}`` for practice staff."""

from __future__ import annotations

from rendezvous.models import STAFF_ROLES, Role, User


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def patient_room(user_id: int) -> str:
    return f"patient:{user_id}"


def medecin_room(user_id: int) -> str:
    return f"medecin:{user_id}"


def admincabinet_room(user_id: int) -> str:
    return f"admincabinet:{user_id}"


def role_room(role: str) -> str:
    return f"role:{role}"


def cabinet_room(cabinet_id: int) -> str:
    return f"cabinet:{cabinet_id}"


def creneaux_room(medecin_id: int) -> str:
    """Slot changes of one doctor, for screens showing that agenda (joined on demand)."""
    return f"creneaux:{medecin_id}"


def conversation_room(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


def auto_rooms(user: User) -> list[str]:
    """Rooms a socket joins on connect; also the audience of the notification centre."""
    rooms = [user_room(user.pk)]
    if user.personal_room:
        rooms.append(user.personal_room)
    rooms.append(role_room(user.role))
    if user.role in STAFF_ROLES and user.cabinet_id:
        rooms.append(cabinet_room(user.cabinet_id))
    return rooms


ROLE_ROOMS = {role_room(r) for r in Role.values}
