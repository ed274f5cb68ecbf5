"""The Django admin: every model listed, booking actions, the broadcast form."""

from __future__ import annotations

import pytest
from django.urls import reverse

from realtime.models import Event
from rendezvous import services
from rendezvous.models import StatutRendezVous

from . import factories as f


@pytest.fixture
def admin_client(client, db):
    admin = f.superadmin(is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


@pytest.mark.parametrize("model", [
    "rendezvous/user", "rendezvous/cabinet", "rendezvous/medecin", "rendezvous/creneau",
    "rendezvous/rendezvous", "messagerie/conversation", "messagerie/message", "realtime/event",
])
def test_changelists_render(admin_client, model):
    response = admin_client.get(f"/admin/{model}/")
    assert response.status_code == 200


def test_booking_made_through_services_shows_in_admin(admin_client):
    med, pat = f.medecin(), f.patient(email="visible@test.fr")
    rdv = services.book_creneau(patient=pat, creneau=f.creneau(med), motif="visible")
    response = admin_client.get("/admin/rendezvous/rendezvous/")
    assert b"visible@test.fr" in response.content
    assert admin_client.get(f"/admin/rendezvous/rendezvous/{rdv.pk}/change/").status_code == 200


def test_confirm_and_cancel_actions_go_through_services(admin_client):
    med = f.medecin()
    a = services.book_creneau(patient=f.patient(), creneau=f.creneau(med))
    b = services.book_creneau(patient=f.patient(), creneau=f.creneau(med))
    url = "/admin/rendezvous/rendezvous/"
    admin_client.post(url, {"action": "confirmer", "_selected_action": [a.pk]})
    admin_client.post(url, {"action": "annuler", "_selected_action": [b.pk]})
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.statut == StatutRendezVous.CONFIRME
    assert b.statut == StatutRendezVous.ANNULE
    # The post_save receivers ran: the events exist, as with the REST API.
    assert Event.objects.filter(name="rendezvous:confirmed", data__id=a.pk).exists()
    assert Event.objects.filter(name="rendezvous:cancelled", data__id=b.pk).exists()


def test_cancelling_twice_in_admin_reports_instead_of_crashing(admin_client):
    med = f.medecin()
    rdv = services.book_creneau(patient=f.patient(), creneau=f.creneau(med))
    url = "/admin/rendezvous/rendezvous/"
    admin_client.post(url, {"action": "annuler", "_selected_action": [rdv.pk]})
    response = admin_client.post(url, {"action": "annuler", "_selected_action": [rdv.pk]}, follow=True)
    assert response.status_code == 200
    assert "déjà annulé" in response.content.decode()


def test_broadcast_form(admin_client):
    url = reverse("admin:realtime_event_broadcast")
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"message": "Fermeture exceptionnelle", "type": "warning",
                                       "role": "PATIENT"})
    assert response.status_code == 302
    event = Event.objects.get(name="notification:general", message="Fermeture exceptionnelle")
    assert event.type == "warning"
    assert list(event.rooms.values_list("room", flat=True)) == ["role:PATIENT"]


def test_broadcast_form_rejects_two_targets(admin_client):
    cab = f.cabinet()
    url = reverse("admin:realtime_event_broadcast")
    before = Event.objects.count()
    response = admin_client.post(url, {"message": "x", "type": "info", "role": "PATIENT", "cabinet": cab.pk})
    assert response.status_code == 200
    assert "une seule cible" in response.content.decode()
    assert Event.objects.count() == before
