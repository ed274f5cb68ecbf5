"""The access log of personal data (audit.JournalAcces): what is recorded, from where,
who may see it, and that nobody can change it — on SQLite and on PostgreSQL (run with
DATABASE_URL set for the latter)."""

from __future__ import annotations

import importlib
import re

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from audit.models import Action, Canal, JournalAcces, TypeObjet
from medical_booking.errors import PermissionRefusee
from messagerie import services as messagerie
from messagerie.models import Conversation, Message
from realtime.models import Event
from rendezvous import services
from rendezvous.models import RendezVous, StatutRendezVous, User
from tests import factories as f
from tests import helpers
from tests.helpers import body

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

UA = "Mozilla/5.0 (test) Agenda/1.0"
TRIGGERS = importlib.import_module("audit.migrations.0002_journal_immuable")


def client(user: User, **headers) -> APIClient:
    c = APIClient(HTTP_USER_AGENT=UA, **headers)
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {f.access(user)}")
    return c


def rows(**filters) -> list[tuple]:
    """(acteur, action, objet_type, patient, objet_ids, objet_id) of each row, oldest first."""
    qs = JournalAcces.objects.filter(**filters).order_by("id")
    return [(r.acteur_id, r.action, r.objet_type, r.patient_id, sorted(r.objet_ids), r.objet_id) for r in qs]


def journal_inserts(queries: CaptureQueriesContext) -> int:
    return sum(1 for q in queries.captured_queries
               if re.match(r'\s*INSERT INTO "audit_journalacces"', q["sql"]))


def doctor_user(world):
    return world.med1.user


# --- reads ---------------------------------------------------------------------------------


def test_a_doctors_agenda_is_one_row_per_patient_in_one_insert(world):
    other = f.rendezvous(world.p3, world.slot2)
    with CaptureQueriesContext(connection) as queries:
        r = client(doctor_user(world)).get("/api/rendezvous/")
    assert r.status_code == 200 and len(body(r)["results"]) == 2
    assert journal_inserts(queries) == 1
    med = world.med1.pk
    assert sorted(rows()) == sorted([
        (med, Action.LECTURE, TypeObjet.RENDEZVOUS, world.p1.pk, [world.rdv1.pk], None),
        (med, Action.LECTURE, TypeObjet.RENDEZVOUS, world.p3.pk, [other.pk], None),
    ])


def test_several_bookings_of_one_patient_are_one_row(world):
    second = f.rendezvous(world.p1, world.slot2)
    client(doctor_user(world)).get("/api/rendezvous/")
    assert rows() == [(world.med1.pk, Action.LECTURE, TypeObjet.RENDEZVOUS, world.p1.pk,
                       sorted([world.rdv1.pk, second.pk]), None)]


def test_the_row_says_where_the_request_came_from(world):
    r = client(doctor_user(world)).get("/api/rendezvous/?statut=EN_ATTENTE")
    row = JournalAcces.objects.get()
    assert (row.ip, row.user_agent, row.methode, row.chemin, row.canal) == (
        "127.0.0.1", UA, "GET", "/api/rendezvous/?statut=EN_ATTENTE", Canal.API)
    assert re.fullmatch(r"[0-9a-f]{32}", row.request_id)
    assert r["X-Request-ID"] == row.request_id
    assert (row.acteur_email, row.acteur_role) == (doctor_user(world).email, "MEDECIN")


def test_each_request_has_its_own_id(world):
    c = client(doctor_user(world))
    first, second = c.get("/api/rendezvous/"), c.get("/api/rendezvous/")
    assert first["X-Request-ID"] != second["X-Request-ID"]
    assert list(JournalAcces.objects.order_by("id").values_list("request_id", flat=True)) == [
        first["X-Request-ID"], second["X-Request-ID"]]


def test_a_patient_reading_their_own_bookings_records_nothing(world):
    c = client(world.p1)
    assert c.get("/api/rendezvous/").status_code == 200
    assert c.get(f"/api/rendezvous/{world.rdv1.pk}/").status_code == 200
    assert JournalAcces.objects.count() == 0


def test_a_practice_admin_list_covers_their_practice_only(world):
    client(world.admin1).get("/api/rendezvous/")
    assert rows() == [(world.admin1.pk, Action.LECTURE, TypeObjet.RENDEZVOUS, world.p1.pk, [world.rdv1.pk], None)]


def test_a_super_admin_list_is_a_row_per_patient_of_every_practice(world):
    client(world.sa).get("/api/rendezvous/")
    assert sorted(r[3] for r in rows()) == sorted([world.p1.pk, world.p2.pk])
    assert {r[0] for r in rows()} == {world.sa.pk}


def test_a_detail_read_names_the_booking(world):
    client(doctor_user(world)).get(f"/api/rendezvous/{world.rdv1.pk}/")
    assert rows() == [(world.med1.pk, Action.LECTURE, TypeObjet.RENDEZVOUS, world.p1.pk,
                       [world.rdv1.pk], world.rdv1.pk)]


def test_an_empty_page_and_a_refused_read_record_nothing(world):
    assert client(world.med2.user).get("/api/rendezvous/").status_code == 200  # no booking of med2
    assert client(world.admin2).get(f"/api/rendezvous/{world.rdv1.pk}/").status_code == 404
    assert client(world.med1.user).get("/api/rendezvous/?page=9").status_code == 404
    assert JournalAcces.objects.count() == 0


def test_the_notification_centre_of_a_doctor_is_logged_per_patient(world):
    rdv = services.book_creneau(patient=world.p3, creneau=world.slot2)
    JournalAcces.objects.filter(action=Action.CREATION).get()  # the booking's row
    client(doctor_user(world)).get("/api/notifications/")
    new = Event.objects.get(name="rendezvous:new", data__id=rdv.pk)
    earlier = Event.objects.get(name="rendezvous:new", data__id=world.rdv1.pk)  # world's booking
    assert sorted(rows(action=Action.LECTURE)) == sorted([
        (world.med1.pk, Action.LECTURE, TypeObjet.NOTIFICATION, world.p3.pk, [new.pk], None),
        (world.med1.pk, Action.LECTURE, TypeObjet.NOTIFICATION, world.p1.pk, [earlier.pk], None),
    ])
    client(world.p3).get("/api/notifications/")  # their own: nothing more
    assert len(rows(action=Action.LECTURE)) == 2


# --- changes -------------------------------------------------------------------------------


def test_a_booking_by_a_patient_is_a_creation_row(world):
    r = client(world.p3).post("/api/rendezvous/", {"creneau": world.slot2.pk, "motif": "Toux"}, format="json")
    assert r.status_code == 201
    rdv = body(r)["id"]
    assert rows() == [(world.p3.pk, Action.CREATION, TypeObjet.RENDEZVOUS, world.p3.pk, [rdv], rdv)]
    row = JournalAcces.objects.get()
    assert (row.ip, row.user_agent, row.methode, row.chemin, row.request_id) == (
        "127.0.0.1", UA, "POST", "/api/rendezvous/", r["X-Request-ID"])


def test_a_booking_costs_one_insert_into_the_log(world):
    with CaptureQueriesContext(connection) as queries:
        r = client(world.p3).post("/api/rendezvous/", {"creneau": world.slot2.pk}, format="json")
    assert r.status_code == 201
    assert journal_inserts(queries) == 1


def test_a_lost_race_and_a_refusal_record_nothing(world):
    r = client(world.p3).post("/api/rendezvous/", {"creneau": world.slot1.pk}, format="json")
    assert r.status_code == 409
    r = client(world.admin2).post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", {}, format="json")
    assert r.status_code == 404
    r = client(world.p1).post(f"/api/rendezvous/{world.rdv1.pk}/confirm/", {}, format="json")
    assert r.status_code == 403
    assert JournalAcces.objects.count() == 0


def test_a_cancellation_by_the_practice_admin(world):
    r = client(world.admin1).post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", {"motif": "x"}, format="json")
    assert r.status_code == 200
    assert rows() == [(world.admin1.pk, Action.ANNULATION, TypeObjet.RENDEZVOUS, world.p1.pk,
                       [world.rdv1.pk], world.rdv1.pk)]


def test_a_confirmation_is_logged_once(world):
    c = client(doctor_user(world))
    assert c.post(f"/api/rendezvous/{world.rdv1.pk}/confirm/").status_code == 200
    assert c.post(f"/api/rendezvous/{world.rdv1.pk}/confirm/").status_code == 200  # no change
    assert rows() == [(world.med1.pk, Action.CONFIRMATION, TypeObjet.RENDEZVOUS, world.p1.pk,
                       [world.rdv1.pk], world.rdv1.pk)]


def test_a_cancellation_by_the_patient_is_logged_too(world):
    client(world.p1).post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", {}, format="json")
    assert rows() == [(world.p1.pk, Action.ANNULATION, TypeObjet.RENDEZVOUS, world.p1.pk,
                       [world.rdv1.pk], world.rdv1.pk)]


def test_a_change_outside_a_request_has_no_ip(world):
    services.confirm_rendezvous(acteur=world.admin1, rdv=world.rdv1)
    row = JournalAcces.objects.get()
    assert (row.canal, row.ip, row.user_agent, row.methode, row.chemin, row.request_id) == (
        Canal.HORS_REQUETE, None, "", "", "", "")


def test_a_rolled_back_change_leaves_no_row(world):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.cancel_rendezvous(acteur=world.admin1, rdv=world.rdv1)
        assert JournalAcces.objects.count() == 1
        raise RuntimeError("the caller's transaction fails after the change")
    assert JournalAcces.objects.count() == 0
    world.rdv1.refresh_from_db()
    assert world.rdv1.statut == StatutRendezVous.EN_ATTENTE


@pytest.mark.django_db(transaction=True)
def test_committed_and_rolled_back_changes_with_real_transactions():
    """Real commits and rollbacks (no test transaction around them)."""
    med, p = f.medecin(), f.patient()
    rdv = services.book_creneau(patient=p, creneau=f.creneau(med))
    with pytest.raises(RuntimeError), transaction.atomic():
        services.cancel_rendezvous(acteur=med.user, rdv=rdv)
        raise RuntimeError("rolled back")
    assert rows() == [(p.pk, Action.CREATION, TypeObjet.RENDEZVOUS, p.pk, [rdv.pk], rdv.pk)]
    assert RendezVous.objects.get(pk=rdv.pk).statut == StatutRendezVous.EN_ATTENTE


# --- messages ------------------------------------------------------------------------------


@pytest.fixture
def conv(world) -> Conversation:
    r = client(world.p1).post("/api/conversations/", {"participant": world.med1.pk}, format="json")
    assert r.status_code == 201
    return Conversation.objects.get(pk=body(r)["id"])


def test_opening_a_conversation_with_a_patient_is_logged(world, conv):
    assert rows() == [(world.p1.pk, Action.CREATION, TypeObjet.CONVERSATION, world.p1.pk, [conv.pk], conv.pk)]
    # The doctor opening it again gets it back with its last message: a read.
    r = client(doctor_user(world)).post("/api/conversations/", {"participant": world.p1.pk}, format="json")
    assert r.status_code == 200
    assert rows()[1:] == [(world.med1.pk, Action.LECTURE, TypeObjet.CONVERSATION, world.p1.pk, [conv.pk], conv.pk)]


def test_messages_sent_read_and_marked_read(world, conv):
    doctor = client(doctor_user(world))
    patient = client(world.p1)
    start = JournalAcces.objects.count()
    sent = patient.post(f"/api/conversations/{conv.pk}/messages/", {"contenu": "J'ai de la fièvre"}, format="json")
    m1 = body(sent)["id"]
    reply = doctor.post(f"/api/conversations/{conv.pk}/messages/", {"contenu": "Venez demain"}, format="json")
    m2 = body(reply)["id"]
    assert doctor.get(f"/api/conversations/{conv.pk}/messages/").status_code == 200
    assert patient.get(f"/api/conversations/{conv.pk}/messages/").status_code == 200  # own: nothing
    assert doctor.post(f"/api/conversations/{conv.pk}/read/").status_code == 200
    assert doctor.post(f"/api/conversations/{conv.pk}/read/").status_code == 200  # nothing new to mark
    assert doctor.get("/api/conversations/").status_code == 200
    assert doctor.get(f"/api/conversations/{conv.pk}/").status_code == 200
    med, p1 = world.med1.pk, world.p1.pk
    assert rows()[start:] == [
        (p1, Action.ENVOI, TypeObjet.MESSAGE, p1, [m1], m1),
        (med, Action.ENVOI, TypeObjet.MESSAGE, p1, [m2], m2),
        (med, Action.LECTURE, TypeObjet.MESSAGE, p1, sorted([m1, m2]), None),
        (med, Action.ACCUSE_LECTURE, TypeObjet.MESSAGE, p1, [m1], m1),
        (med, Action.LECTURE, TypeObjet.CONVERSATION, p1, [conv.pk], None),
        (med, Action.LECTURE, TypeObjet.CONVERSATION, p1, [conv.pk], conv.pk),
    ]


def test_staff_only_conversations_are_not_patient_data(world):
    c = client(doctor_user(world))
    r = c.post("/api/conversations/", {"participant": world.med2.pk}, format="json")
    conv = body(r)["id"]
    c.post(f"/api/conversations/{conv}/messages/", {"contenu": "Réunion à 13 h"}, format="json")
    client(world.med2.user).get(f"/api/conversations/{conv}/messages/")
    client(world.med2.user).post(f"/api/conversations/{conv}/read/")
    assert JournalAcces.objects.count() == 0


def test_a_refused_message_records_nothing(world, conv):
    start = JournalAcces.objects.count()
    r = client(world.p2).post(f"/api/conversations/{conv.pk}/messages/", {"contenu": "x"}, format="json")
    assert r.status_code == 404
    with pytest.raises(PermissionRefusee):
        messagerie.send_message(auteur=world.p2, conversation=conv, contenu="x")
    assert JournalAcces.objects.count() == start


# --- where from ----------------------------------------------------------------------------


def test_x_forwarded_for_is_ignored_unless_proxies_are_configured(world, settings):
    client(doctor_user(world), HTTP_X_FORWARDED_FOR="203.0.113.9").get("/api/rendezvous/")
    assert JournalAcces.objects.get().ip == "127.0.0.1"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client(doctor_user(world), HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9").get("/api/rendezvous/")
    assert JournalAcces.objects.order_by("-id").first().ip == "203.0.113.9"
    client(doctor_user(world), HTTP_X_FORWARDED_FOR="pas-une-ip").get("/api/rendezvous/")
    assert JournalAcces.objects.order_by("-id").first().ip is None


def test_hostile_request_text_is_stored_not_a_500(world):
    r = client(doctor_user(world)).get("/api/rendezvous/", QUERY_STRING="x=\x00\xed",
                                       HTTP_USER_AGENT="a\x00b\ud800" + "x" * 400)
    assert r.status_code == 200
    row = JournalAcces.objects.get()
    assert row.user_agent.startswith("a\\x00b\\ud800") and len(row.user_agent) == 300
    assert "\x00" not in row.chemin


# --- immutability --------------------------------------------------------------------------


def test_the_database_refuses_to_change_or_delete_a_row(world):
    services.confirm_rendezvous(acteur=world.admin1, rdv=world.rdv1)
    row = JournalAcces.objects.get()
    attempts = [
        lambda: JournalAcces.objects.filter(pk=row.pk).update(ip="10.0.0.1"),
        lambda: JournalAcces.objects.all().delete(),
        lambda: JournalAcces.objects.filter(pk=row.pk).delete(),
        lambda: row.delete(),
        lambda: JournalAcces(pk=row.pk, acteur_email="x", acteur_role="x", action="x", objet_type="x",
                             canal="x").save(force_update=True),
    ]
    for attempt in attempts:
        with pytest.raises(IntegrityError, match="journal_acces_immuable"), transaction.atomic():
            attempt()
    with connection.cursor() as cursor, pytest.raises(IntegrityError), transaction.atomic():
        cursor.execute("UPDATE audit_journalacces SET acteur_email = 'x'")
    assert rows() == [(world.admin1.pk, Action.CONFIRMATION, TypeObjet.RENDEZVOUS, world.p1.pk,
                       [world.rdv1.pk], world.rdv1.pk)]
    assert JournalAcces.objects.get().acteur_email == world.admin1.email


def test_the_triggers_exist_after_all_migrations():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_journalacces'::regclass"
                           " AND NOT tgisinternal AND tgenabled = 'O'")
            assert [r[0] for r in cursor.fetchall()] == ["audit_journalacces_immuable"]
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_journalacces'"
                           " ORDER BY name")
            assert [r[0] for r in cursor.fetchall()] == [
                "audit_journalacces_sans_modification", "audit_journalacces_sans_suppression"]


def test_deleting_a_user_keeps_their_rows(world):
    client(world.sa).get("/api/rendezvous/")
    email, pk = world.sa.email, world.sa.pk
    world.sa.delete()
    assert JournalAcces.objects.count() == 2
    assert set(JournalAcces.objects.values_list("acteur_id", "acteur_email", "acteur_role")) == {
        (pk, email, "SUPERADMIN")}


def test_the_operators_purge_works_with_the_trigger_disabled_explicitly(world):
    """Retention is the operator's: the purge documented in migration 0002, run as written."""
    services.confirm_rendezvous(acteur=world.admin1, rdv=world.rdv1)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_journalacces DISABLE TRIGGER audit_journalacces_immuable")
            cursor.execute("DELETE FROM audit_journalacces")
            cursor.execute("ALTER TABLE audit_journalacces ENABLE TRIGGER audit_journalacces_immuable")
        else:
            cursor.execute("DROP TRIGGER audit_journalacces_sans_suppression")
            cursor.execute("DELETE FROM audit_journalacces")
            cursor.execute(TRIGGERS.SQLITE_FORWARD[1])
    assert JournalAcces.objects.count() == 0
    test_the_triggers_exist_after_all_migrations()


# --- the admin -----------------------------------------------------------------------------

LOG = "/admin/audit/journalacces/"


@pytest.fixture
def logged(world):
    services.cancel_rendezvous(acteur=world.admin1, rdv=world.rdv1)
    return JournalAcces.objects.get()


def admin_client(user: User):
    from django.test import Client

    c = Client(HTTP_USER_AGENT=UA)
    c.force_login(user)
    return c


def test_a_super_admin_sees_the_log_read_only(world, logged):
    world.sa.is_staff = world.sa.is_superuser = True
    world.sa.save()
    c = admin_client(world.sa)
    page = c.get(LOG)
    assert page.status_code == 200 and world.admin1.email in page.content.decode()
    assert c.get(f"{LOG}?patient={world.p1.pk}").context["cl"].result_count == 1
    assert c.get(f"{LOG}?patient={world.p2.pk}").context["cl"].result_count == 0
    assert c.get(f"{LOG}?acteur={world.admin1.pk}").context["cl"].result_count == 1
    assert c.get(f"{LOG}?q={logged.request_id or 'absent'}").status_code == 200
    detail = c.get(f"{LOG}{logged.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert "delete_selected" not in page.content.decode()
    assert c.get(f"{LOG}add/").status_code == 403
    assert c.post(f"{LOG}{logged.pk}/change/", {"acteur_email": "x"}).status_code == 403
    assert c.post(f"{LOG}{logged.pk}/delete/", {"post": "yes"}).status_code == 403
    assert c.post(LOG, {"action": "delete_selected", "_selected_action": [logged.pk], "post": "yes"}).status_code in (
        200, 302)
    assert JournalAcces.objects.filter(pk=logged.pk, acteur_email=world.admin1.email).exists()


def test_a_superadmin_role_without_the_superuser_flag_sees_it_too(world, logged):
    world.sa.is_staff = True
    world.sa.save()
    assert admin_client(world.sa).get(LOG).status_code == 200


def test_staff_other_than_super_admins_get_403_even_with_the_permission(world, logged):
    from django.contrib.auth.models import Permission

    world.admin1.is_staff = True
    world.admin1.save()
    world.admin1.user_permissions.set(Permission.objects.all())
    c = admin_client(world.admin1)
    assert c.get(LOG).status_code == 403
    assert c.get(f"{LOG}{logged.pk}/change/").status_code == 403
    assert "journalacces" not in c.get("/admin/").content.decode()


def test_non_staff_are_sent_to_the_login_page(world, logged):
    r = admin_client(world.med1.user).get(LOG)
    assert r.status_code == 302 and r["Location"].startswith("/admin/login/")


# --- admin views of bookings and messages -------------------------------------------------


@pytest.fixture
def staff(world) -> User:
    world.sa.is_staff = world.sa.is_superuser = True
    world.sa.save()
    return world.sa


def test_admin_booking_list_and_detail_are_logged(world, staff):
    c = admin_client(staff)
    assert c.get("/admin/rendezvous/rendezvous/").status_code == 200
    assert c.get(f"/admin/rendezvous/rendezvous/{world.rdv1.pk}/change/").status_code == 200
    sa = staff.pk
    got = rows()
    assert sorted(got[:2]) == sorted([
        (sa, Action.LECTURE, TypeObjet.RENDEZVOUS, world.p1.pk, [world.rdv1.pk], None),
        (sa, Action.LECTURE, TypeObjet.RENDEZVOUS, world.p2.pk, [world.rdv3.pk], None),
    ])
    assert got[2:] == [(sa, Action.LECTURE, TypeObjet.RENDEZVOUS, world.p1.pk, [world.rdv1.pk], world.rdv1.pk)]
    assert set(JournalAcces.objects.values_list("canal", "methode")) == {(Canal.ADMIN, "GET")}


def test_admin_actions_are_logged_through_the_services(world, staff):
    c = admin_client(staff)
    c.post("/admin/rendezvous/rendezvous/", {"action": "annuler", "_selected_action": [world.rdv1.pk]})
    assert rows() == [(staff.pk, Action.ANNULATION, TypeObjet.RENDEZVOUS, world.p1.pk,
                       [world.rdv1.pk], world.rdv1.pk)]
    assert JournalAcces.objects.get().canal == Canal.ADMIN


def test_admin_edit_and_delete_of_a_booking(world, staff):
    c = admin_client(staff)
    url = f"/admin/rendezvous/rendezvous/{world.rdv1.pk}/change/"
    r = c.post(url, {"patient": world.p3.pk, "creneau": world.slot1.pk, "motif": "corrigé", "motif_annulation": ""})
    assert r.status_code == 302, r.content[:500]
    edits = rows(action=Action.MODIFICATION)
    assert sorted(e[3] for e in edits) == sorted([world.p1.pk, world.p3.pk])
    for page in ("history", "delete"):  # the object's name, and the confirmation page
        assert c.get(f"/admin/rendezvous/rendezvous/{world.rdv3.pk}/{page}/").status_code == 200
    assert rows(action=Action.LECTURE) == 2 * [
        (staff.pk, Action.LECTURE, TypeObjet.RENDEZVOUS, world.p2.pk, [world.rdv3.pk], world.rdv3.pk)]
    r = c.post(f"/admin/rendezvous/rendezvous/{world.rdv3.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302
    assert rows(action=Action.SUPPRESSION) == [
        (staff.pk, Action.SUPPRESSION, TypeObjet.RENDEZVOUS, world.p2.pk, [world.rdv3.pk], None)]
    assert not RendezVous.objects.filter(pk=world.rdv3.pk).exists()


def test_admin_message_and_event_pages_are_logged(world, staff, conv):
    message = messagerie.send_message(auteur=world.p1, conversation=conv, contenu="Allergie")
    event = Event.objects.get(name="message:new", data__id=message.pk)
    start = JournalAcces.objects.count()
    c = admin_client(staff)
    assert c.get("/admin/messagerie/message/").status_code == 200
    assert c.get(f"/admin/messagerie/message/{message.pk}/change/").status_code == 200
    assert c.get(f"/admin/messagerie/conversation/{conv.pk}/change/").status_code == 200
    assert c.get("/admin/realtime/event/").status_code == 200  # names and messages only
    assert c.get(f"/admin/realtime/event/{event.pk}/change/").status_code == 200
    sa, p1 = staff.pk, world.p1.pk
    assert rows()[start:] == [
        (sa, Action.LECTURE, TypeObjet.MESSAGE, p1, [message.pk], None),
        (sa, Action.LECTURE, TypeObjet.MESSAGE, p1, [message.pk], message.pk),
        (sa, Action.LECTURE, TypeObjet.CONVERSATION, p1, [conv.pk], conv.pk),
        (sa, Action.LECTURE, TypeObjet.NOTIFICATION, p1, [event.pk], event.pk),
    ]
    assert Message.objects.filter(pk=message.pk).exists()


# --- through a real server -----------------------------------------------------------------

ROWS_OF = """
import json
from audit.models import JournalAcces
rows = JournalAcces.objects.filter(request_id__in={ids!r}).order_by("id")
print(json.dumps([[r.request_id, r.action, r.objet_type, r.acteur_email, r.patient_id, r.ip, r.user_agent,
                   r.methode, r.chemin, r.canal] for r in rows]))
"""


@pytest.mark.e2e
def test_a_real_server_records_the_client_address_agent_and_request_id(live):
    """daphne + the request-thread handler: the context variable reaches the services."""
    import json
    import urllib.request

    from tests.live import http, login

    patient, doctor = login(live.url, "chloe@demo.fr")["access"], login(live.url, "dr.bernard@demo.fr")["access"]
    _, me = http("GET", f"{live.url}/api/me/", token=patient)
    _, found = http("GET", f"{live.url}/api/medecins/?q=Bernard", token=patient)
    medecin = found["results"][0]["id"]
    _, slots = http("GET", f"{live.url}/api/creneaux/?medecin={medecin}&disponible=true", token=patient)

    def call(method: str, path: str, token: str, body=None) -> tuple[int, str]:
        req = urllib.request.Request(f"{live.url}{path}", method=method, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json", "User-Agent": UA,
            "X-Forwarded-For": "203.0.113.7"}, data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers["X-Request-ID"]

    booked, book_id = call("POST", "/api/rendezvous/", patient, {"creneau": slots["results"][0]["id"]})
    listed, list_id = call("GET", f"/api/rendezvous/?medecin={medecin}", doctor)
    assert (booked, listed) == (201, 200)
    got = json.loads(live.manage("shell", "-c", ROWS_OF.format(ids=[book_id, list_id])).strip().splitlines()[-1])
    assert [book_id, "CREATION", "RENDEZVOUS", "chloe@demo.fr", me["id"], "127.0.0.1", UA, "POST",
            "/api/rendezvous/", "API"] in got
    mine = [row for row in got if row[0] == list_id and row[4] == me["id"]]
    assert mine == [[list_id, "LECTURE", "RENDEZVOUS", "dr.bernard@demo.fr", me["id"], "127.0.0.1", UA, "GET",
                     f"/api/rendezvous/?medecin={medecin}", "API"]]
    assert {row[0] for row in got} == {book_id, list_id}
