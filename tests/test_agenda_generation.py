"""Weekly hours → slots (rendezvous/agenda.py): generation, hours changes, absences.

Times are fixed instants in 2027 (``now`` passed in), so daylight-saving changes are
known: Europe/Paris goes to summer time on Sunday 28 March 2027 and back on Sunday
31 October 2027.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from medical_booking.errors import Conflit, DomainError, PermissionRefusee
from realtime.models import Event
from rendezvous import agenda, services
from rendezvous.models import Absence, Creneau, Horaire, RendezVous, StatutRendezVous
from rendezvous.serializers import CreneauSerializer
from tests import factories as f
from tests.helpers import fast_hashers  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
MONDAY = datetime(2027, 3, 15, 6, 0, tzinfo=UTC)  # Monday 15 March 2027, 07:00 in Paris


def paris(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=PARIS)


def hours(med, *plages) -> list[Horaire]:
    return Horaire.objects.bulk_create([
        Horaire(medecin=med, jour=j, debut=time(*d), fin=time(*e), duree_minutes=m) for j, d, e, m in plages
    ])


def slots(med, **kw) -> list[tuple[datetime, datetime]]:
    qs = Creneau.objects.filter(medecin=med, actif=True, **kw).order_by("debut")
    return [(c.debut, c.fin) for c in qs]


def local_starts(med) -> list[str]:
    return [c.debut.astimezone(PARIS).strftime("%a %d/%m %H:%M") for c in
            Creneau.objects.filter(medecin=med, actif=True).order_by("debut")]


@pytest.fixture
def med(db):
    return f.medecin(f.cabinet(timezone="Europe/Paris"))


# --- generation ----------------------------------------------------------------------------


def test_one_week_of_a_range_makes_its_slots_in_local_time(med):
    hours(med, (0, (9, 0), (11, 0), 30))
    done = agenda.generer_creneaux(med, semaines=1, now=MONDAY)
    assert (done.crees, done.ignores, done.medecins) == (4, 0, 1)
    nine = paris(2027, 3, 15, 9)
    assert slots(med) == [(nine + timedelta(minutes=30 * i), nine + timedelta(minutes=30 * (i + 1)))
                          for i in range(4)]
    assert nine.astimezone(UTC).hour == 8  # winter time
    assert all(c.genere for c in Creneau.objects.filter(medecin=med))


def test_daylight_saving_weeks_keep_the_wall_clock(med):
    """09:00 in Paris is 08:00 UTC before 28 March 2027 and 07:00 UTC after; the same on
    the way back on 31 October."""
    hours(med, (0, (9, 0), (10, 0), 30), (6, (9, 0), (9, 30), 30))
    agenda.generer_creneaux(med, semaines=2, now=datetime(2027, 3, 22, 6, tzinfo=UTC))
    assert slots(med) == [
        (datetime(2027, 3, 22, 8, 0, tzinfo=UTC), datetime(2027, 3, 22, 8, 30, tzinfo=UTC)),
        (datetime(2027, 3, 22, 8, 30, tzinfo=UTC), datetime(2027, 3, 22, 9, 0, tzinfo=UTC)),
        (datetime(2027, 3, 28, 7, 0, tzinfo=UTC), datetime(2027, 3, 28, 7, 30, tzinfo=UTC)),  # the DST Sunday
        (datetime(2027, 3, 29, 7, 0, tzinfo=UTC), datetime(2027, 3, 29, 7, 30, tzinfo=UTC)),
        (datetime(2027, 3, 29, 7, 30, tzinfo=UTC), datetime(2027, 3, 29, 8, 0, tzinfo=UTC)),
        (datetime(2027, 4, 4, 7, 0, tzinfo=UTC), datetime(2027, 4, 4, 7, 30, tzinfo=UTC)),
    ]
    assert set(local_starts(med)) >= {"Mon 22/03 09:00", "Sun 28/03 09:00", "Mon 29/03 09:00"}
    Creneau.objects.all().delete()
    agenda.generer_creneaux(med, semaines=2, now=datetime(2027, 10, 25, 5, tzinfo=UTC))
    assert [d for d, _ in slots(med)][:4] == [
        datetime(2027, 10, 25, 7, 0, tzinfo=UTC), datetime(2027, 10, 25, 7, 30, tzinfo=UTC),
        datetime(2027, 10, 31, 8, 0, tzinfo=UTC),  # Sunday 31 October, back to winter time
        datetime(2027, 11, 1, 8, 0, tzinfo=UTC),
    ]
    assert all(fin - debut == timedelta(minutes=30) for debut, fin in slots(med))


def test_slots_in_the_changed_hour_of_a_dst_night_are_left_out(med):
    """Night hours on the two change days: a slot starting or ending in the skipped hour
    does not exist; one crossing the repeated hour would last 90 minutes instead of 60."""
    hours(med, (6, (0, 30), (4, 30), 60))
    agenda.generer_creneaux(med, semaines=1, now=datetime(2027, 3, 22, 6, tzinfo=UTC))
    # Sunday 28 March: 00:30-01:30 and 03:30-04:30 exist; 01:30-02:30 and 02:30-03:30 do not.
    assert [(d.astimezone(PARIS).strftime("%H:%M"), (fn - d).seconds // 60) for d, fn in slots(med)] == [
        ("00:30", 60), ("03:30", 60)]
    Creneau.objects.all().delete()
    agenda.generer_creneaux(med, semaines=1, now=datetime(2027, 10, 25, 6, tzinfo=UTC))
    # Sunday 31 October: 01:30-02:30 (the first 02:30) exists; 02:30-03:30 would be 2 hours.
    assert [(d.astimezone(PARIS).strftime("%H:%M"), (fn - d).seconds // 60) for d, fn in slots(med)] == [
        ("00:30", 60), ("01:30", 60), ("03:30", 60)]


def test_two_runs_create_each_slot_once_and_one_event_each(med):
    hours(med, (0, (9, 0), (12, 0), 30), (2, (14, 0), (16, 0), 20))
    first = agenda.generer_creneaux(med, semaines=3, now=MONDAY)
    second = agenda.generer_creneaux(med, semaines=3, now=MONDAY)
    assert (first.crees, second.crees, second.ignores) == (3 * (6 + 6), 0, 0)
    assert Creneau.objects.filter(medecin=med).count() == 36
    events = list(Event.objects.filter(name="creneau:available").order_by("id"))
    made = list(Creneau.objects.filter(medecin=med).select_related("medecin__cabinet").order_by("debut"))
    # One event per slot, in the order of the slots, each the slot as the API shows it,
    # to every patient and to the screens following this doctor.
    assert [e.data["id"] for e in events] == [c.pk for c in made]
    for event, creneau in zip(events, made, strict=True):
        assert event.data == CreneauSerializer(creneau).data
        assert event.message == "Nouveau créneau disponible" and event.type == "info"
        assert sorted(event.rooms.values_list("room", flat=True)) == [f"creneaux:{med.pk}", "role:PATIENT"]


def test_never_over_a_hand_published_slot(med):
    hours(med, (0, (9, 0), (11, 0), 30))
    hand = services.publish_creneau(acteur=med.user, medecin=med, debut=paris(2030, 1, 7, 9, 15),
                                    fin=paris(2030, 1, 7, 9, 45))
    agenda.generer_creneaux(med, semaines=1, now=datetime(2030, 1, 7, 5, tzinfo=UTC))
    assert local_starts(med) == ["Mon 07/01 09:15", "Mon 07/01 10:00", "Mon 07/01 10:30"]
    hand.refresh_from_db()
    assert hand.actif and not hand.genere


def test_a_withdrawn_slot_does_not_block_generation(med):
    hours(med, (0, (9, 0), (9, 30), 30))
    old = f.creneau(med, paris(2030, 1, 7, 9), actif=False)
    assert agenda.generer_creneaux(med, semaines=1, now=datetime(2030, 1, 7, 5, tzinfo=UTC)).crees == 1
    assert slots(med) == [(old.debut, old.fin)]


def test_never_inside_an_absence(med):
    hours(med, (0, (9, 0), (12, 0), 30))
    Absence.objects.create(medecin=med, debut=paris(2030, 1, 7, 10), fin=paris(2030, 1, 7, 11, 15))
    Absence.objects.create(medecin=med, debut=paris(2030, 1, 14, 0), fin=paris(2030, 1, 15, 0))
    agenda.generer_creneaux(med, semaines=2, now=datetime(2030, 1, 7, 5, tzinfo=UTC))
    assert local_starts(med) == ["Mon 07/01 09:00", "Mon 07/01 09:30", "Mon 07/01 11:30"]


def test_never_in_the_past(med):
    hours(med, (0, (9, 0), (12, 0), 30))
    now = paris(2030, 1, 7, 10, 10).astimezone(UTC)
    agenda.generer_creneaux(med, semaines=1, now=now)
    assert local_starts(med) == ["Mon 07/01 10:30", "Mon 07/01 11:00", "Mon 07/01 11:30"]


def test_horizon_in_weeks_of_whole_local_days(med, settings):
    hours(med, *[(j, (9, 0), (9, 30), 30) for j in range(7)])
    now = paris(2030, 1, 7, 8).astimezone(UTC)  # Monday 08:00
    assert agenda.generer_creneaux(med, semaines=1, now=now).crees == 7  # Mon 7 .. Sun 13
    settings.CRENEAUX_HORIZON_SEMAINES = 3
    assert agenda.generer_creneaux(med, now=now).crees == 14
    assert local_starts(med)[-1] == "Sun 27/01 09:00"


def test_only_active_doctors_with_hours(med):
    other = f.medecin(med.cabinet)
    gone = f.medecin(med.cabinet)
    hours(med, (0, (9, 0), (9, 30), 30))
    hours(gone, (0, (9, 0), (9, 30), 30))
    gone.user.is_active = False
    gone.user.save()
    done = agenda.generer_creneaux(semaines=1, now=MONDAY)
    assert (done.crees, done.medecins) == (1, 1)
    assert not Creneau.objects.filter(medecin__in=[other, gone]).exists()


def test_a_slot_taken_between_plan_and_insert_is_skipped_not_an_error(med):
    """The other writer's insert lands after this run read the agenda: the database
    refuses ours for that time (the exclusion constraint / triggers) and the run goes on."""
    hours(med, (0, (9, 0), (11, 0), 30))
    steps = agenda.etapes_generation(med, semaines=1, now=MONDAY)
    assert next(steps).medecins == 1  # the plan is made: four slots to insert
    theirs = Creneau.objects.create(medecin=med, debut=paris(2027, 3, 15, 9, 30), fin=paris(2027, 3, 15, 10),
                                    genere=True)
    rest = agenda.Generation()
    for step in steps:
        rest += step
    assert (rest.crees, rest.ignores) == (3, 1)
    assert local_starts(med) == ["Mon 15/03 09:00", "Mon 15/03 09:30", "Mon 15/03 10:00", "Mon 15/03 10:30"]
    assert Creneau.objects.filter(medecin=med).count() == 4
    # Events for the three it made (and the one made by the other writer), none for the loser.
    assert Event.objects.filter(name="creneau:available").count() == 4
    assert Event.objects.filter(name="creneau:available", data__id=theirs.pk).count() == 1


# --- hours changes ---------------------------------------------------------------------------


def plage(jour, debut, fin, duree):
    return {"jour": jour, "debut": time(*debut), "fin": time(*fin), "duree_minutes": duree}


def test_changing_hours_withdraws_free_generated_slots_that_no_longer_fit(med, settings):
    """Monday 09:00-11:00 by 30 → 09:00-10:00 by 20. Kept: nothing of the old grid fits
    but a booked slot stays; a hand-published slot stays; the new grid fills the rest."""
    settings.CRENEAUX_HORIZON_SEMAINES = 1
    admin = f.admincabinet(med.cabinet)
    now = datetime(2030, 1, 6, 12, tzinfo=UTC)  # Sunday
    agenda.remplacer_horaires(acteur=admin, medecin=med, plages=[plage(0, (9, 0), (11, 0), 30)], now=now)
    assert len(slots(med)) == 4
    booked = Creneau.objects.get(medecin=med, debut=paris(2030, 1, 7, 9, 30))
    rdv = f.rendezvous(f.patient(), booked)
    hand = Creneau.objects.create(medecin=med, debut=paris(2030, 1, 7, 12), fin=paris(2030, 1, 7, 12, 30))
    events_before = Event.objects.order_by("-id").values_list("id", flat=True).first()
    done = agenda.remplacer_horaires(acteur=admin, medecin=med, plages=[plage(0, (9, 0), (10, 0), 20)], now=now)
    assert [(h.jour, h.debut, h.fin, h.duree_minutes) for h in done.horaires] == [(0, time(9), time(10), 20)]
    assert list(Horaire.objects.filter(medecin=med).values_list("jour", "debut", "fin", "duree_minutes")) == [
        (0, time(9), time(10), 20)]
    # Withdrawn: 09:00, 10:00, 10:30 (free, generated). Kept: 09:30 (booked), 12:00 (by hand).
    # New: 09:00-09:20 only (09:20-09:40 and 09:40-10:00 overlap the booked 09:30-10:00).
    assert (done.retires, done.crees) == (3, 1)
    assert local_starts(med) == ["Mon 07/01 09:00", "Mon 07/01 09:30", "Mon 07/01 12:00"]
    rdv.refresh_from_db()
    assert rdv.statut == StatutRendezVous.EN_ATTENTE and rdv.creneau_id == booked.pk
    hand.refresh_from_db()
    assert hand.actif
    new = list(Event.objects.filter(pk__gt=events_before).order_by("id"))
    assert [(e.name, e.message) for e in new] == [("creneau:unavailable", "Ce créneau a été retiré")] * 3 + [
        ("creneau:available", "Nouveau créneau disponible")]
    for e in new[:3]:
        assert list(e.rooms.values_list("room", flat=True)) == [f"creneaux:{med.pk}"]
        assert e.data["actif"] is False and e.data["disponible"] is False


def test_unchanged_hours_keep_every_slot(med):
    now = datetime(2030, 1, 6, 12, tzinfo=UTC)
    week = [plage(0, (9, 0), (12, 0), 30), plage(3, (14, 0), (15, 0), 15)]
    first = agenda.remplacer_horaires(acteur=med.user, medecin=med, plages=week, now=now)
    ids = set(Creneau.objects.values_list("pk", flat=True))
    again = agenda.remplacer_horaires(acteur=med.user, medecin=med, plages=list(reversed(week)), now=now)
    assert first.crees == 8 * (6 + 4) and (again.crees, again.retires) == (0, 0)
    assert set(Creneau.objects.filter(actif=True).values_list("pk", flat=True)) == ids


def test_empty_week_withdraws_every_future_free_generated_slot(med):
    now = datetime(2030, 1, 6, 12, tzinfo=UTC)
    agenda.remplacer_horaires(acteur=med.user, medecin=med, plages=[plage(0, (9, 0), (10, 0), 30)], now=now)
    done = agenda.remplacer_horaires(acteur=med.user, medecin=med, plages=[], now=now)
    assert (done.retires, done.crees, done.horaires) == (16, 0, [])
    assert not Creneau.objects.filter(actif=True).exists()


def test_overlapping_ranges_are_refused_and_nothing_changes(med):
    hours(med, (0, (9, 0), (10, 0), 30))
    with pytest.raises(DomainError) as exc:
        agenda.remplacer_horaires(acteur=med.user, medecin=med, plages=[
            plage(0, (9, 0), (12, 0), 30), plage(0, (11, 30), (13, 0), 30)], now=MONDAY)
    assert exc.value.code == "horaires_chevauchement" and exc.value.status == 400
    assert exc.value.details == {"chevauchements": [{"jour": 0, "plages": ["09:00–12:00", "11:30–13:00"]}]}
    assert list(Horaire.objects.values_list("debut", flat=True)) == [time(9)]
    assert not Creneau.objects.exists()


@pytest.mark.parametrize("who", ["patient", "other_doctor", "other_admin"])
def test_only_the_agenda_s_managers_change_hours_or_absences(med, who):
    user = {"patient": f.patient(), "other_doctor": f.medecin(med.cabinet).user,
            "other_admin": f.admincabinet()}[who]
    with pytest.raises(PermissionRefusee):
        agenda.remplacer_horaires(acteur=user, medecin=med, plages=[plage(0, (9, 0), (10, 0), 30)])
    with pytest.raises(PermissionRefusee):
        agenda.declarer_absence(acteur=user, medecin=med, debut=f.future(1), fin=f.future(2))
    assert not Horaire.objects.exists() and not Absence.objects.exists()


# --- absences --------------------------------------------------------------------------------


def test_an_absence_withdraws_the_free_slots_it_covers_and_lists_the_booked_ones(med):
    now = datetime(2030, 1, 6, 12, tzinfo=UTC)
    agenda.remplacer_horaires(acteur=med.user, medecin=med, plages=[plage(0, (9, 0), (12, 0), 30)], now=now)
    hand = Creneau.objects.create(medecin=med, debut=paris(2030, 1, 7, 13), fin=paris(2030, 1, 7, 13, 30))
    booked = Creneau.objects.get(medecin=med, debut=paris(2030, 1, 7, 10))
    patient = f.patient(telephone="06 12 34 56 78")
    rdv = f.rendezvous(patient, booked)
    cancelled = f.rendezvous(f.patient(), Creneau.objects.get(medecin=med, debut=paris(2030, 1, 7, 11)),
                             statut=StatutRendezVous.ANNULE, annule_at=now)
    admin = f.admincabinet(med.cabinet)
    done = agenda.declarer_absence(acteur=admin, medecin=med, debut=paris(2030, 1, 7, 9, 45),
                                   fin=paris(2030, 1, 7, 13, 15), motif="Formation", now=now)
    # 09:30 (overlaps 09:45), 10:30, 11:00 (its booking is cancelled), 11:30, 13:00 (by hand).
    assert done.retires == 5
    assert [r.pk for r in done.a_deplacer] == [rdv.pk]
    assert local_starts(med)[:3] == ["Mon 07/01 09:00", "Mon 07/01 10:00", "Mon 14/01 09:00"]
    hand.refresh_from_db()
    assert not hand.actif
    absence = done.absence
    assert (absence.medecin, absence.motif, absence.cree_par) == (med, "Formation", admin)
    assert cancelled.creneau.pk not in set(Creneau.objects.filter(actif=True).values_list("pk", flat=True))
    # Generation leaves the absence alone.
    assert agenda.generer_creneaux(med, now=now).crees == 0


def test_an_absence_leaves_past_slots_alone(med):
    past = f.creneau(med, f.future(-2))
    done = agenda.declarer_absence(acteur=med.user, medecin=med, debut=f.future(-3), fin=f.future(3))
    assert done.retires == 0
    past.refresh_from_db()
    assert past.actif


def test_absence_in_the_past_or_backwards_is_refused(med):
    with pytest.raises(DomainError) as exc:
        agenda.declarer_absence(acteur=med.user, medecin=med, debut=f.future(-5), fin=f.future(-1))
    assert (exc.value.code, exc.value.status) == ("absence_passee", 400)
    with pytest.raises(DomainError) as exc:
        agenda.declarer_absence(acteur=med.user, medecin=med, debut=f.future(5), fin=f.future(5))
    assert exc.value.code == "validation_error"
    with pytest.raises(DomainError):
        agenda.declarer_absence(acteur=med.user, medecin=med, debut=f.future(5), fin=f.future(5 + 367 * 24))
    assert not Absence.objects.exists()


def test_deleting_an_absence_regenerates_its_period_only(med):
    now = datetime(2030, 1, 6, 12, tzinfo=UTC)
    agenda.remplacer_horaires(acteur=med.user, medecin=med, plages=[plage(0, (9, 0), (10, 0), 30)], now=now)
    absence = agenda.declarer_absence(acteur=med.user, medecin=med, debut=paris(2030, 1, 14, 0),
                                      fin=paris(2030, 1, 15, 0), now=now).absence
    assert "Mon 14/01 09:00" not in local_starts(med)
    # A slot withdrawn by hand elsewhere is not brought back by the deletion.
    services.withdraw_creneau(acteur=med.user, creneau=Creneau.objects.get(debut=paris(2030, 1, 21, 9)))
    made = agenda.supprimer_absence(acteur=med.user, absence=absence, now=now)
    assert made == 2
    assert not Absence.objects.exists()
    starts = local_starts(med)
    assert {"Mon 14/01 09:00", "Mon 14/01 09:30"} <= set(starts) and "Mon 21/01 09:00" not in starts


def test_a_past_absence_cannot_be_deleted(med):
    absence = Absence.objects.create(medecin=med, debut=f.future(-5), fin=f.future(-1))
    with pytest.raises(Conflit) as exc:
        agenda.supprimer_absence(acteur=med.user, absence=absence)
    assert exc.value.code == "absence_passee"
    assert Absence.objects.filter(pk=absence.pk).exists()


# --- the command -----------------------------------------------------------------------------


def test_command_generates_for_one_doctor_or_all(med):
    other = f.medecin(med.cabinet)
    hours(med, *[(j, (9, 0), (9, 30), 30) for j in range(7)])
    hours(other, *[(j, (9, 0), (9, 30), 30) for j in range(7)])
    out = io.StringIO()
    call_command("generer_creneaux", "--medecin", str(med.pk), "--semaines", "1", stdout=out)
    assert out.getvalue().startswith(("7 slot(s) created", "6 slot(s) created"))  # today's may be past
    assert not Creneau.objects.filter(medecin=other).exists()
    out = io.StringIO()
    call_command("generer_creneaux", "--semaines", "1", stdout=out)
    assert "0 already taken" in out.getvalue() and "2 doctor(s)" in out.getvalue()
    assert Creneau.objects.filter(medecin=other).count() == Creneau.objects.filter(medecin=med).count()


@pytest.mark.parametrize("args", [["--semaines", "0"], ["--semaines", "105"], ["--medecin", "999999"],
                                  ["--medecin", "-1"], ["--medecin", str(2**64)]])
def test_command_bad_arguments(med, args):
    with pytest.raises(CommandError):
        call_command("generer_creneaux", *args, stdout=io.StringIO())
    assert not Creneau.objects.exists()


def test_booked_generated_slot_keeps_its_booking_when_regenerated(med):
    """Generation never touches an existing slot: a booking on a generated slot stays."""
    hours(med, (0, (9, 0), (9, 30), 30))
    agenda.generer_creneaux(med, semaines=1, now=MONDAY)
    slot = Creneau.objects.get()
    rdv = RendezVous.objects.create(patient=f.patient(), creneau=slot)
    assert agenda.generer_creneaux(med, semaines=1, now=MONDAY).crees == 0
    assert RendezVous.objects.get().pk == rdv.pk and Creneau.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_hours_changes_at_once_leave_one_whole_week_on_postgres(requires_postgres, settings):
    """Each replacement deletes the old week and inserts its own: without a lock on the
    doctor, two at once would leave both weeks mixed (overlapping ranges)."""
    import threading

    settings.CRENEAUX_HORIZON_SEMAINES = 1
    from django.db import connection as conn

    med = f.medecin()
    weeks = [[plage(j, (9, 0), (12, 0), 30) for j in range(5)],
             [plage(j, (8, 0), (11, 0), 20) for j in range(5)]]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(week):
        try:
            barrier.wait()
            agenda.remplacer_horaires(acteur=med.user, medecin=med, plages=week, now=MONDAY)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            conn.close()

    for _ in range(5):
        threads = [threading.Thread(target=run, args=(w,)) for w in weeks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        got = sorted(Horaire.objects.filter(medecin=med).values_list("jour", "debut", "fin", "duree_minutes"))
        assert got in [sorted((p["jour"], p["debut"], p["fin"], p["duree_minutes"]) for p in w) for w in weeks]
