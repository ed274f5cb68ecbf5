"""The Django admin for a practice's staff (issue 12, item 6): a practice admin sees and
acts on their practice only, a doctor reads their own agenda, every model admin checked
against a second practice (list, detail, change, delete, add), actions through the
services, and the README's promise: a secretary logs in and confirms a booking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from audit.models import Action, JournalAcces
from realtime.models import Event
from rendezvous import services
from rendezvous.models import (
    Absence,
    Cabinet,
    Creneau,
    Horaire,
    Medecin,
    Motif,
    RendezVous,
    StatutRendezVous,
    User,
)
from tests import factories as f
from tests import helpers

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures


def login(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def agenda(world):
    """Staff with admin access, and in each practice: hours, an absence ahead, a reason."""
    for user in (world.admin1, world.admin2, world.med1.user, world.med2.user, world.med3.user):
        user.is_staff = True
        user.save()
    objs = {}
    for key, med in (("1", world.med1), ("2", world.med2), ("3", world.med3)):
        objs["horaire" + key] = Horaire.objects.create(medecin=med, jour=0, debut="09:00", fin="12:00",
                                                       duree_minutes=30)
        objs["absence" + key] = Absence.objects.create(medecin=med, debut=f.future(24 * 20),
                                                       fin=f.future(24 * 21))
        objs["motif" + key] = Motif.objects.create(medecin=med, libelle="Consultation", duree_minutes=20)
    return objs


def objects(world, agenda) -> dict[str, tuple[object, object, object]]:
    """Per model: (med1's or practice 1's object, med2's (same practice), practice 2's)."""
    return {
        "user": (world.p1, world.med2.user, world.p2),
        "cabinet": (world.cab1, world.cab1, world.cab2),
        "medecin": (world.med1, world.med2, world.med3),
        "creneau": (world.slot2, world.slot4, world.slot3),
        "rendezvous": (world.rdv1, world.rdv1, world.rdv3),
        "horaire": (agenda["horaire1"], agenda["horaire2"], agenda["horaire3"]),
        "absence": (agenda["absence1"], agenda["absence2"], agenda["absence3"]),
        "motif": (agenda["motif1"], agenda["motif2"], agenda["motif3"]),
    }


MODELS = ["user", "cabinet", "medecin", "creneau", "rendezvous", "horaire", "absence", "motif"]
# What a practice admin may do beyond viewing, per model.
ADMIN_CAN = {"user": set(), "cabinet": {"change"}, "medecin": {"change"}, "creneau": set(),
             "rendezvous": set(), "horaire": set(), "absence": {"add", "delete"}, "motif": {"add", "change"}}


def url(model: str, obj=None, page: str = "change") -> str:
    base = f"/admin/rendezvous/{model}/"
    return base if obj is None else f"{base}{obj.pk}/{page}/"


def listed(client: Client, model: str) -> set[int]:
    r = client.get(url(model))
    assert r.status_code == 200, (model, r.status_code)
    return {o.pk for o in r.context["cl"].queryset}


def rows(model_obj) -> tuple:
    """An object's state, to show a refused request changed nothing."""
    model = type(model_obj)
    return tuple(model.objects.filter(pk=model_obj.pk).values_list())


@pytest.mark.parametrize("model", MODELS)
def test_a_practice_admin_sees_and_acts_on_their_practice_only(world, agenda, model):
    mine, colleague, theirs = objects(world, agenda)[model]
    c = login(world.admin1)
    seen = listed(c, model)
    assert mine.pk in seen and colleague.pk in seen and theirs.pk not in seen
    model_class = type(theirs)
    assert not seen - set(_practice_rows(model_class, world.cab1).values_list("pk", flat=True))
    # Another practice's object by its URL: 404 for every page, and nothing changes.
    before = rows(theirs)
    for page in ("change", "delete", "history"):
        assert c.get(url(model, theirs, page)).status_code == 404, page
    assert c.post(url(model, theirs), {"motif": "x", "nom": "x", "specialite": "x"}).status_code == 404
    assert c.post(url(model, theirs, "delete"), {"post": "yes"}).status_code == 404
    assert rows(theirs) == before
    # Own objects: view always; change, delete, add as the role allows.
    assert c.get(url(model, mine)).status_code == 200
    can = ADMIN_CAN[model]
    assert (c.get(url(model) + "add/").status_code == 200) == ("add" in can)
    if "add" not in can:
        assert c.get(url(model) + "add/").status_code == 403
    page = c.get(url(model, mine)).content.decode()
    assert ('name="_save"' in page) == ("change" in can)
    if "change" not in can:
        assert c.post(url(model, mine), {}).status_code == 403
        assert rows(mine) == rows(type(mine).objects.get(pk=mine.pk))
    if "delete" not in can:
        assert c.post(url(model, mine, "delete"), {"post": "yes"}).status_code == 403
        assert type(mine).objects.filter(pk=mine.pk).exists()


def _practice_rows(model, cabinet: Cabinet):
    """Every row of the practice, per model (what a practice admin may see at most)."""
    from django.db.models import Q

    if model is User:
        booked = RendezVous.objects.filter(creneau__medecin__cabinet=cabinet).values("patient_id")
        return User.objects.filter(Q(cabinet=cabinet) | Q(pk__in=booked) | Q(cree_par_cabinet=cabinet))
    if model is Cabinet:
        return Cabinet.objects.filter(pk=cabinet.pk)
    if model is Medecin:
        return Medecin.objects.filter(cabinet=cabinet)
    if model is RendezVous:
        return RendezVous.objects.filter(creneau__medecin__cabinet=cabinet)
    return model.objects.filter(medecin__cabinet=cabinet)


@pytest.mark.parametrize("model", MODELS)
def test_a_doctor_reads_their_own_agenda_only(world, agenda, model):
    mine, colleague, theirs = objects(world, agenda)[model]
    c = login(world.med1.user)
    seen = listed(c, model)
    assert mine.pk in seen and theirs.pk not in seen
    if model in ("creneau", "horaire", "absence", "motif"):  # a colleague's agenda is not theirs
        assert colleague.pk not in seen
        assert c.get(url(model, colleague)).status_code == 404
    assert c.get(url(model, theirs)).status_code == 404
    assert c.get(url(model, mine)).status_code == 200
    before = rows(mine)
    assert c.get(url(model) + "add/").status_code == 403
    assert c.post(url(model, mine), {}).status_code == 403
    assert c.post(url(model, mine, "delete"), {"post": "yes"}).status_code == 403
    assert rows(mine) == before


@pytest.mark.parametrize("path", [
    "/admin/messagerie/conversation/", "/admin/messagerie/message/", "/admin/realtime/event/",
    "/admin/realtime/event/broadcast/", "/admin/audit/journalacces/", "/admin/auth/group/",
    "/admin/token_blacklist/outstandingtoken/",
])
@pytest.mark.parametrize("who", ["admin1", "med1"])
def test_messages_events_and_the_access_log_are_for_super_admins_only(world, agenda, path, who):
    user = world.admin1 if who == "admin1" else world.med1.user
    assert login(user).get(path).status_code == 403


def test_the_index_shows_staff_the_agenda_models_only(world, agenda):
    page = login(world.admin1).get("/admin/").content.decode()
    for model in MODELS:
        assert f"/admin/rendezvous/{model}/" in page, model
    for other in ("messagerie", "realtime", "audit", "auth/group", "token_blacklist"):
        assert f"/admin/{other}" not in page, other


def test_patients_and_staff_without_the_flag_stay_out(world, agenda):
    world.med2.user.is_staff = False
    world.med2.user.save()
    r = login(world.med2.user).get("/admin/rendezvous/rendezvous/")
    assert r.status_code == 302 and r["Location"].startswith("/admin/login/")
    world.p1.is_staff = True  # even flagged by mistake, a patient sees nothing
    world.p1.save()
    c = login(world.p1)
    for model in MODELS:
        assert c.get(url(model)).status_code == 403, model


def test_actions_on_another_practice_s_rows_do_nothing(world, agenda):
    c = login(world.admin1)
    c.post(url("rendezvous"), {"action": "confirmer", "_selected_action": [world.rdv3.pk, world.rdv1.pk]})
    c.post(url("creneau"), {"action": "retirer", "_selected_action": [world.slot3.pk]})
    c.post(url("absence"), {"action": "supprimer_absences", "_selected_action": [agenda["absence3"].pk]})
    world.rdv1.refresh_from_db()
    world.rdv3.refresh_from_db()
    world.slot3.refresh_from_db()
    assert world.rdv1.statut == StatutRendezVous.CONFIRME
    assert world.rdv3.statut == StatutRendezVous.EN_ATTENTE and world.slot3.actif
    assert Absence.objects.filter(pk=agenda["absence3"].pk).exists()


def test_a_doctor_confirms_and_withdraws_on_their_agenda_through_the_services(world, agenda):
    c = login(world.med1.user)
    c.post(url("rendezvous"), {"action": "confirmer", "_selected_action": [world.rdv1.pk]})
    r = c.post(url("creneau"), {"action": "retirer", "_selected_action": [world.slot1.pk, world.slot2.pk]},
               follow=True)
    world.rdv1.refresh_from_db()
    world.slot1.refresh_from_db()
    world.slot2.refresh_from_db()
    assert world.rdv1.statut == StatutRendezVous.CONFIRME
    assert world.slot1.actif and not world.slot2.actif  # the booked one is refused, and said so
    assert "annulez-le" in r.content.decode()
    assert Event.objects.filter(name="creneau:unavailable", data__id=world.slot2.pk).count() == 1


def test_practice_admin_edits_their_practice_and_doctors_but_not_the_doctor_s_account(world, agenda):
    c = login(world.admin1)
    r = c.post(url("cabinet", world.cab1), {
        "nom": world.cab1.nom, "adresse": "1 place Bellecour", "ville": "Lyon", "code_postal": "69002",
        "telephone": "04 00 00 00 00", "timezone": "Europe/Paris", "rappel_offsets": "[1440, 60]",
        "delai_annulation_heures": 24, "preavis_minimum_minutes": 0, "max_rdv_a_venir": "",
        "medecins-TOTAL_FORMS": "0", "medecins-INITIAL_FORMS": "0",
    })
    assert r.status_code == 302, r.content.decode()[:2000]
    world.cab1.refresh_from_db()
    assert (world.cab1.adresse, world.cab1.delai_annulation_heures) == ("1 place Bellecour", 24)
    r = c.post(url("medecin", world.med1), {"specialite": "Gériatrie", "rpps": "123",
                                            "nouveaux_patients_en_ligne": "", "user": world.p1.pk,
                                            "cabinet": world.cab2.pk})
    assert r.status_code == 302
    world.med1.refresh_from_db()
    assert (world.med1.specialite, world.med1.nouveaux_patients_en_ligne) == ("Gériatrie", False)
    assert (world.med1.user_id, world.med1.cabinet_id) == (world.med1.pk, world.cab1.pk)  # read-only fields
    # A user's page is read-only, its password page refused.
    assert c.get(f"/admin/rendezvous/user/{world.p1.pk}/password/").status_code == 403
    assert c.get(f"/admin/rendezvous/user/{world.p2.pk}/password/").status_code in (403, 404)


def _split(value) -> dict:
    local = timezone.localtime(value)
    return {"0": local.strftime("%d/%m/%Y"), "1": local.strftime("%H:%M:%S")}


def absence_form(medecin, debut, fin, motif="Congrès") -> dict:
    d, e = _split(debut), _split(fin)
    return {"medecin": medecin.pk, "debut_0": d["0"], "debut_1": d["1"], "fin_0": e["0"], "fin_1": e["1"],
            "motif": motif}


def test_a_practice_admin_declares_an_absence_through_the_service(world, agenda):
    c = login(world.admin1)
    # slot1 (booked) at +48 h and slot2 (free) at +49 h.
    r = c.post(url("absence") + "add/", absence_form(world.med1, world.slot1.debut, world.slot2.fin), follow=True)
    assert r.status_code == 200
    absence = Absence.objects.get(motif="Congrès")
    assert (absence.medecin, absence.cree_par) == (world.med1, world.admin1)
    world.slot2.refresh_from_db()
    assert not world.slot2.actif
    page = r.content.decode()
    assert "1 créneau(x) libre(s) retiré(s)" in page and "Rendez-vous à déplacer" in page
    assert Event.objects.filter(name="creneau:unavailable", data__id=world.slot2.pk).exists()


@pytest.mark.parametrize("case", ["other_practice", "past", "backwards"])
def test_bad_absences_in_the_admin_are_form_errors(world, agenda, case):
    medecin, debut, fin = {
        "other_practice": (world.med3, f.future(30), f.future(31)),
        "past": (world.med1, f.future(-3), f.future(-2)),
        "backwards": (world.med1, f.future(31), f.future(30)),
    }[case]
    before = Absence.objects.count()
    r = login(world.admin1).post(url("absence") + "add/", absence_form(medecin, debut, fin))
    assert r.status_code == 200 and r.context["adminform"].form.errors
    assert Absence.objects.count() == before


def test_deleting_an_absence_in_the_admin_regenerates_its_slots(world, agenda):
    absence = agenda["absence1"]
    Horaire.objects.filter(medecin=world.med1).delete()
    Horaire.objects.bulk_create([Horaire(medecin=world.med1, jour=j, debut="09:00", fin="10:00", duree_minutes=30)
                                 for j in range(7)])
    c = login(world.admin1)
    assert c.post(url("absence", absence, "delete"), {"post": "yes"}).status_code == 302
    assert not Absence.objects.filter(pk=absence.pk).exists()
    made = Creneau.objects.filter(medecin=world.med1, genere=True, debut__gte=absence.debut, debut__lt=absence.fin)
    assert made.count() in (2, 4)  # a day of 09:00 and 09:30 (two days when the hour straddles)
    past = Absence.objects.create(medecin=world.med1, debut=f.future(-5), fin=f.future(-4))
    assert c.get(url("absence", past, "delete")).status_code == 403


def test_generate_action_on_doctors(world, agenda):
    c = login(world.admin1)
    c.post(url("medecin"), {"action": "generer", "_selected_action": [world.med1.pk, world.med3.pk]})
    made = Creneau.objects.filter(medecin=world.med1, genere=True).count()
    assert made >= 6 * 6  # Monday mornings for 8 weeks, but today's and the absence's
    r = c.post(url("medecin"), {"action": "generer", "_selected_action": [world.med1.pk]}, follow=True)
    assert "0 créneau(x) généré(s)." in r.content.decode()
    assert Creneau.objects.filter(medecin=world.med1, genere=True).count() == made
    assert not Creneau.objects.filter(medecin=world.med3, genere=True).exists()


def test_booking_filters_a_secretary_uses(world, agenda):
    tomorrow = timezone.localtime() + timedelta(days=1)
    slot = f.creneau(world.med2, tomorrow.replace(hour=10, minute=0, second=0, microsecond=0))
    rdv = f.rendezvous(world.p3, slot)
    c = login(world.admin1)

    def found(query: str) -> set[int]:
        r = c.get(url("rendezvous") + "?" + query)
        assert r.status_code == 200 and "?e=1" not in r.get("Location", ""), query
        return {o.pk for o in r.context["cl"].queryset}

    assert found("jour=demain") == {rdv.pk}
    assert found("jour=aujourdhui") == set()
    assert found("jour=a_venir") == {rdv.pk, world.rdv1.pk}
    assert found(f"medecin={world.med2.pk}") == {rdv.pk}
    assert found(f"medecin={world.med3.pk}") == set()  # another practice's doctor: nothing
    assert found("medecin=abc") == set()
    assert found("statut__exact=CONFIRME") == set()
    d = slot.debut.astimezone(timezone.get_current_timezone())
    assert found(f"creneau__debut__year={d.year}&creneau__debut__month={d.month}&creneau__debut__day={d.day}") == {
        rdv.pk}
    page = c.get(url("rendezvous")).content.decode()
    assert "jour du rendez-vous" in page and "Demain" in page
    assert world.med3.user.last_name not in page  # the doctor filter lists the practice's doctors only
    assert "Par cabinet" not in page and "Par Cabinet" not in page
    slots = c.get(url("creneau") + "?disponibilite=libre&jour=7jours").context["cl"].queryset
    assert world.slot2.pk in {s.pk for s in slots} and world.slot1.pk not in {s.pk for s in slots}


def test_a_secretary_logs_in_through_the_form_and_confirms_a_booking(db):
    """README: « a secretary can confirm or cancel it » in the admin. The demo secretary,
    the real login form, the list action, the service, the event and the access log."""
    call_command("seed_demo", verbosity=0)
    alice = User.objects.get(email="alice@demo.fr")
    slot = Creneau.objects.filter(medecin__user__email="dr.bernard@demo.fr", actif=True).first()
    minutes = (slot.fin - slot.debut).total_seconds() // 60
    motif = slot.medecin.motifs.filter(actif=True, en_ligne=True, nouveaux_patients=True,
                                       duree_minutes__lte=minutes).first()
    rdv = services.book_creneau(patient=alice, creneau=slot, motif="Vaccin", motif_consultation=motif)
    c = Client()
    r = c.post("/admin/login/?next=/admin/", {"username": "secretariat@demo.fr", "password": "demo1234",
                                               "next": "/admin/"})
    assert r.status_code == 302 and r["Location"] == "/admin/", r.content.decode()[:1000]
    assert "Rendez-vous" in c.get("/admin/").content.decode()
    listing = c.get(url("rendezvous"))
    assert rdv.pk in {o.pk for o in listing.context["cl"].queryset}
    r = c.post(url("rendezvous"), {"action": "confirmer", "_selected_action": [rdv.pk]}, follow=True)
    assert "1 rendez-vous confirmé(s)." in r.content.decode()
    rdv.refresh_from_db()
    assert rdv.statut == StatutRendezVous.CONFIRME and rdv.confirme_at is not None
    event = Event.objects.get(name="rendezvous:confirmed", data__id=rdv.pk, message="Votre rendez-vous a été confirmé")
    assert list(event.rooms.values_list("room", flat=True)) == [f"patient:{alice.pk}"]
    secretary = User.objects.get(email="secretariat@demo.fr")
    assert JournalAcces.objects.filter(acteur_id=secretary.pk, action=Action.CONFIRMATION, objet_id=rdv.pk,
                                       canal="ADMIN").count() == 1
    # A doctor logs in the same way and sees their own bookings only.
    d = Client()
    d.post("/admin/login/", {"username": "dr.martin@demo.fr", "password": "demo1234"})
    assert rdv.pk not in {o.pk for o in d.get(url("rendezvous")).context["cl"].queryset}


def test_every_model_and_field_of_every_app_has_a_french_label():
    from django.apps import apps

    missing = []
    for app in ("rendezvous", "messagerie", "realtime", "audit"):
        for model in apps.get_app_config(app).get_models():
            if "verbose_name" not in model._meta.original_attrs:
                missing.append(model.__name__)
            for field in model._meta.get_fields():
                if not field.auto_created and "verbose_name" not in field.deconstruct()[3]:
                    missing.append(f"{model.__name__}.{field.name}")
    assert missing == []
    assert Event._meta.verbose_name_plural == "journal des événements"
