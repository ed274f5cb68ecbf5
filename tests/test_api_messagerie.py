"""Conversations, messages and read receipts: who may talk to whom, and bad input."""

from __future__ import annotations

import pytest
from django.utils import timezone

from messagerie.models import Conversation, Message
from realtime.models import Event, EventRoom
from rendezvous.models import StatutRendezVous
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, body, ids, unchanged

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

CONVERSATION_FIELDS = {"id", "participants", "dernier_message", "non_lus", "created_at", "updated_at"}
MESSAGE_FIELDS = {"id", "conversation", "auteur", "contenu", "created_at", "lu_at"}


def who(world, name):
    actor = getattr(world, name)
    return getattr(actor, "user", actor)


def open_conv(user, other_id):
    return f.client_for(user).post("/api/conversations/", {"participant": other_id}, format="json")


@pytest.fixture
def conv(world):
    """p1 <-> med1 (they share rdv1), with one message from p1."""
    r = open_conv(world.p1, world.med1.pk)
    assert r.status_code == 201, r.content
    conversation = Conversation.objects.get(pk=body(r)["id"])
    sent = f.client_for(world.p1).post(f"/api/conversations/{conversation.pk}/messages/",
                                       {"contenu": "Bonjour docteur"}, format="json")
    assert sent.status_code == 201
    return conversation


# --- opening -------------------------------------------------------------------------------


def test_patient_opens_a_conversation_with_their_doctor(world):
    r = open_conv(world.p1, world.med1.pk)
    data = body(r)
    assert r.status_code == 201
    assert set(data) == CONVERSATION_FIELDS
    assert data["participants"] == sorted([
        {"id": world.p1.pk, "first_name": world.p1.first_name, "last_name": world.p1.last_name, "role": "PATIENT"},
        {"id": world.med1.pk, "first_name": world.med1.user.first_name, "last_name": "Martin", "role": "MEDECIN"},
    ], key=lambda p: p["id"])
    assert data["dernier_message"] is None and data["non_lus"] == 0


def test_opening_again_returns_the_same_conversation(world, conv):
    with unchanged():
        again = open_conv(world.p1, world.med1.pk)
        from_doctor = open_conv(world.med1.user, world.p1.pk)
    assert (again.status_code, from_doctor.status_code) == (200, 200)
    assert body(again)["id"] == body(from_doctor)["id"] == conv.pk
    assert body(again)["dernier_message"]["contenu"] == "Bonjour docteur"


def test_a_cancelled_booking_still_allows_messaging(world):
    world.rdv1.statut = StatutRendezVous.ANNULE
    world.rdv1.annule_at = timezone.now()
    world.rdv1.save()
    assert open_conv(world.p1, world.med1.pk).status_code == 201


def test_practice_admin_and_patient_of_the_practice(world):
    assert open_conv(world.admin1, world.p1.pk).status_code == 201
    assert open_conv(world.p2, world.admin2.pk).status_code == 201


def test_staff_of_one_practice_talk_to_each_other(world):
    assert open_conv(world.med1.user, world.med2.pk).status_code == 201
    with unchanged():
        assert_error(open_conv(world.med1.user, world.med3.pk), 403, "conversation_interdite")


@pytest.mark.parametrize("name, other", [
    ("p1", "med3"),    # no booking with that doctor
    ("p1", "med2"),    # same practice, but not their doctor
    ("p3", "med1"),    # no booking at all
    ("p1", "p2"),      # two patients
    ("p1", "admin2"),  # another practice's admin
    ("med3", "p1"),    # a doctor writing to someone else's patient
])
def test_messaging_without_a_booking_is_403(world, name, other):
    client_user = who(world, name)
    other_id = who(world, other).pk
    client = f.client_for(client_user)
    with unchanged():
        assert_error(client.post("/api/conversations/", {"participant": other_id}, format="json"), 403,
                     "conversation_interdite")


def test_conversation_with_oneself_is_403(world):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(client.post("/api/conversations/", {"participant": world.p1.pk}, format="json"), 403)


@pytest.mark.parametrize("name, forbidden", [
    ("p1", "med3"), ("med1", "p2"), ("admin1", "admin2"), ("sa", "inactive"),
])
def test_unknown_and_forbidden_participants_get_the_same_answer(world, name, forbidden):
    """Issue 10: a 404 for unknown ids beside a 403 for forbidden ones told which ids exist."""
    if forbidden == "inactive":  # a super admin may write to any active user
        world.p3.is_active = False
        world.p3.save()
        forbidden_id = world.p3.pk
    else:
        forbidden_id = who(world, forbidden).pk
    user = who(world, name)
    with unchanged():
        refused = open_conv(user, forbidden_id)
        answers = [refused] + [open_conv(user, unknown) for unknown in (999_999, 2**63 - 1)]
    first = assert_error(refused, 403, "conversation_interdite")
    for answer in answers:
        assert (answer.status_code, body(answer)) == (403, first)


@pytest.mark.parametrize("payload", [{}, {"participant": "abc"}, {"participant": [1]}, {"participant": None},
                                     {"participant": 0}, {"participant": 10**30}, [1]])
def test_open_with_bad_input_is_400(world, payload):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(client.post("/api/conversations/", payload, format="json"), 400, "validation_error")


def test_open_with_malformed_json_is_400(world):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(client.post("/api/conversations/", '{"participant"', content_type="application/json"), 400,
                     "parse_error")


# --- listing -------------------------------------------------------------------------------


def test_list_shows_only_own_conversations(world, conv):
    assert ids(f.client_for(world.p1).get("/api/conversations/")) == [conv.pk]
    assert ids(f.client_for(world.med1.user).get("/api/conversations/")) == [conv.pk]
    for name in ("p2", "med2", "admin1", "admin2", "sa"):
        assert ids(f.client_for(who(world, name)).get("/api/conversations/")) == []


def test_list_is_ordered_by_latest_activity(world, conv):
    other = body(open_conv(world.med1.user, world.med2.pk))["id"]
    client = f.client_for(world.med1.user)
    assert ids(client.get("/api/conversations/")) == [other, conv.pk]
    client.post(f"/api/conversations/{conv.pk}/messages/", {"contenu": "Re"}, format="json")
    assert ids(client.get("/api/conversations/")) == [conv.pk, other]


def test_unread_counts(world, conv):
    doctor = body(f.client_for(world.med1.user).get("/api/conversations/"))["results"][0]
    patient = body(f.client_for(world.p1).get("/api/conversations/"))["results"][0]
    assert (doctor["non_lus"], patient["non_lus"]) == (1, 0)
    assert set(doctor) == CONVERSATION_FIELDS
    assert doctor["dernier_message"]["contenu"] == "Bonjour docteur"


@pytest.mark.parametrize("name", ["p2", "med2", "admin1", "sa"])
def test_someone_elses_conversation_is_404(world, conv, name):
    client = f.client_for(who(world, name))
    with unchanged():
        assert_error(client.get(f"/api/conversations/{conv.pk}/"), 404, "not_found")
        assert_error(client.get(f"/api/conversations/{conv.pk}/messages/"), 404, "not_found")
        assert_error(client.post(f"/api/conversations/{conv.pk}/messages/", {"contenu": "intrus"}, format="json"),
                     404, "not_found")
        assert_error(client.post(f"/api/conversations/{conv.pk}/read/"), 404, "not_found")


@pytest.mark.parametrize("path", ["999999", "abc", "99999999999999999999999"])
def test_unknown_conversation_is_404(world, path):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(client.get(f"/api/conversations/{path}/"), 404, "not_found")
        assert_error(client.get(f"/api/conversations/{path}/messages/"), 404, "not_found")
        assert_error(client.post(f"/api/conversations/{path}/messages/", {"contenu": "x"}, format="json"), 404,
                     "not_found")
        assert_error(client.post(f"/api/conversations/{path}/read/"), 404, "not_found")


# --- messages ------------------------------------------------------------------------------


def test_send_and_read_messages(world, conv):
    doctor = f.client_for(world.med1.user)
    r = doctor.post(f"/api/conversations/{conv.pk}/messages/", {"contenu": "  Bonjour, je vous écoute  "},
                    format="json")
    data = body(r)
    assert r.status_code == 201
    assert set(data) == MESSAGE_FIELDS
    assert data["contenu"] == "Bonjour, je vous écoute"
    assert data["conversation"] == conv.pk and data["lu_at"] is None
    assert data["auteur"] == {"id": world.med1.pk, "first_name": world.med1.user.first_name,
                              "last_name": "Martin", "role": "MEDECIN"}
    # message:new to the conversation room and the recipient's user room.
    event = Event.objects.filter(name="message:new").latest("id")
    assert set(EventRoom.objects.filter(event=event).values_list("room", flat=True)) == {
        f"conversation:{conv.pk}", f"user:{world.p1.pk}"}
    listing = body(f.client_for(world.p1).get(f"/api/conversations/{conv.pk}/messages/"))
    assert listing["count"] == 2
    assert [m["contenu"] for m in listing["results"]] == ["Bonjour, je vous écoute", "Bonjour docteur"]
    assert all(set(m) == MESSAGE_FIELDS for m in listing["results"])


@pytest.mark.parametrize("payload", [
    {}, {"contenu": ""}, {"contenu": "   "}, {"contenu": None}, {"contenu": {"a": 1}}, {"contenu": ["x"]},
    {"contenu": "x" * 5001}, ["contenu"],
])
def test_send_bad_message_is_400(world, conv, payload):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(client.post(f"/api/conversations/{conv.pk}/messages/", payload, format="json"), 400,
                     "validation_error")


def test_send_malformed_json_is_400(world, conv):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(client.post(f"/api/conversations/{conv.pk}/messages/", "{contenu: x}",
                                 content_type="application/json"), 400, "parse_error")


def test_messages_are_paginated(world, conv):
    client = f.client_for(world.p1)
    for i in range(3):
        client.post(f"/api/conversations/{conv.pk}/messages/", {"contenu": f"m{i}"}, format="json")
    page = body(client.get(f"/api/conversations/{conv.pk}/messages/?page_size=2"))
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]


# --- read receipts -------------------------------------------------------------------------


def test_recipient_marks_read(world, conv):
    message = Message.objects.get(conversation=conv)
    r = f.client_for(world.med1.user).post(f"/api/conversations/{conv.pk}/read/")
    assert r.status_code == 200
    assert body(r) == {"conversation": conv.pk, "messages": [message.pk], "non_lus": 0}
    message.refresh_from_db()
    assert message.lu_at is not None
    event = Event.objects.filter(name="message:read").latest("id")
    assert set(EventRoom.objects.filter(event=event).values_list("room", flat=True)) == {
        f"conversation:{conv.pk}", f"user:{world.p1.pk}"}
    assert body(f.client_for(world.med1.user).get("/api/conversations/"))["results"][0]["non_lus"] == 0
    # Reading again changes nothing.
    client = f.client_for(world.med1.user)
    with unchanged():
        again = client.post(f"/api/conversations/{conv.pk}/read/")
    assert body(again)["messages"] == []


def test_author_reading_does_not_mark_own_messages(world, conv):
    client = f.client_for(world.p1)
    with unchanged():
        r = client.post(f"/api/conversations/{conv.pk}/read/")
    assert r.status_code == 200 and body(r)["messages"] == []
    assert Message.objects.get(conversation=conv).lu_at is None


def test_read_with_get_is_405(world, conv):
    client = f.client_for(world.med1.user)
    with unchanged():
        assert_error(client.get(f"/api/conversations/{conv.pk}/read/"), 405, "method_not_allowed")


def test_conversations_cannot_be_deleted(world, conv):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(client.delete(f"/api/conversations/{conv.pk}/"), 405, "method_not_allowed")
