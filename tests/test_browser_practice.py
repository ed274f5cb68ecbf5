"""The practice's whole day in a real browser (issue 12): the secretary's multi-doctor day,
weekly hours and absences, booking for a phone caller, moves — live, at phone width, by
keyboard, with no serious axe-core violation.

A practice of its own (a secretary, two doctors) is made in the session's live stack so
that hours and absences changed here touch no other test's agenda; slots are published
far in the future.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import date, timedelta

import pytest

from .browser import sign_in
from .live import http, login
from .test_browser import browser, go, no_errors, shot  # noqa: F401  (browser: a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PASSWORD = "demo1234"

MAKE_PRACTICE = """
import json
from django.contrib.auth.hashers import make_password
from rendezvous.models import Cabinet, Medecin, Role, User
tag = {tag!r}
cabinet = Cabinet.objects.create(nom=f"Cabinet des Tilleuls {{tag}}", ville="Nantes", timezone="Europe/Paris")
pw = make_password({password!r})
def user(prefix, first, last, role):
    return User.objects.create_user_with_hash(
        f"{{prefix}}.{{tag}}@tilleuls.test", pw, first_name=first, last_name=last, role=role,
        cabinet=cabinet, is_staff=True)
sec = user("secretariat", "Sarah", "Accueil", Role.ADMINCABINET)
ids = {{"cabinet": cabinet.id, "secretary": sec.email, "doctors": []}}
for prefix, first, last, spec in (("dr.roux", "Paul", "Roux", "Cardiologie"),
                                  ("dr.petit", "Inès", "Petit", "Dermatologie"),
                                  ("dr.blanc", "Marc", "Blanc", "Médecine générale")):
    u = user(prefix, first, last, Role.MEDECIN)
    Medecin.objects.create(user=u, cabinet=cabinet, specialite=spec)
    ids["doctors"].append({{"id": u.id, "email": u.email, "name": last}})
print("PRACTICE=" + json.dumps(ids))
"""


@pytest.fixture(scope="module")
def practice(live):
    out = live.manage("shell", "-c", MAKE_PRACTICE.format(tag=uuid.uuid4().hex[:8], password=PASSWORD))
    data = json.loads(next(line for line in out.splitlines() if line.startswith("PRACTICE="))[9:])
    for doctor in data["doctors"]:
        doctor["access"] = login(live.url, doctor["email"], PASSWORD)["access"]
    data["secretary_access"] = login(live.url, data["secretary"], PASSWORD)["access"]
    data["url"] = live.url
    for email in ("alice@demo.fr", "bob@demo.fr", "chloe@demo.fr"):
        tokens = login(live.url, email)
        status, me = http("GET", f"{live.url}/api/me/", token=tokens["access"])
        assert status == 200, me
        data[email] = {"id": me["id"], "access": tokens["access"]}
    return data


def publish(practice, doctor: dict, day: str, *hours: str) -> list[int]:
    """30-minute slots for `doctor` on `day` at each HH:MM; their ids."""
    ids = []
    for hour in hours:
        hh, mm = map(int, hour.split(":"))
        end = f"{hh + (mm + 30) // 60:02d}:{(mm + 30) % 60:02d}"
        status, body = http("POST", f"{practice['url']}/api/creneaux/",
                            {"debut": f"{day}T{hour}:00", "fin": f"{day}T{end}:00"}, doctor["access"])
        assert status == 201, body
        ids.append(body["id"])
    return ids


def far_day(offset: int) -> str:
    d = date.today() + timedelta(days=500 + offset + uuid.uuid4().int % 2000)
    return (d - timedelta(days=d.weekday() - 1)).isoformat()  # a Tuesday


def choose_doctor(page, doctor_id: int) -> None:
    """Pick a doctor in the screen's doctor select (no change event if already chosen)."""
    page.eval(f"(() => {{ const s = document.querySelector('#medecin-select');"
              f" if (s.value !== '{doctor_id}') {{ s.value = '{doctor_id}';"
              " s.dispatchEvent(new Event('change')); } })()")


def no_serious_axe_violations(page, where: str) -> None:
    violations = [v for v in page.axe() if v["impact"] in ("serious", "critical")]
    assert not violations, f"{where}: {json.dumps(violations, ensure_ascii=False, indent=1)}"


def no_errors_but(page, *expected: int) -> None:
    """Like test_browser.no_errors, also letting through the refusals this test provoked."""
    errors = [line for line in page.log()
              if not any(f"status of {code} " in line for code in (409, *expected))
              and not (line.startswith("requestfailed") and "/socket.io/" in line)]
    assert not errors, errors


def fits_the_width(page) -> None:
    width = page.eval("[document.documentElement.scrollWidth, window.innerWidth]")
    wide = page.eval("[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
                     " > window.innerWidth + 1).slice(-5).map(e => e.tagName + '.' + e.className + '#' + e.id)")
    assert width[0] <= width[1], f"horizontal overflow at {width[1]} px: content is {width[0]} px wide: {wide}"


def test_secretary_day_shows_every_doctor_live_confirms_and_cancels(browser, practice):  # noqa: F811
    roux, petit, _ = practice["doctors"]
    day = far_day(0)
    r1, r2 = publish(practice, roux, day, "08:00", "08:30")
    (p1,) = publish(practice, petit, day, "09:00")

    # The secretary lands on the practice's day (today), every doctor side by side.
    secretary = sign_in(browser, "sec-day", practice["url"], practice["secretary"])
    secretary.wait(f'.journee-col[data-medecin="{roux["id"]}"]')
    secretary.wait(f'.journee-col[data-medecin="{petit["id"]}"]')
    assert secretary.eval("document.body.dataset.screen") == "journee"
    assert secretary.eval("location.hash") == "#/journee"

    go(secretary, f"#/journee?date={day}")
    for slot in (r1, r2, p1):
        secretary.wait(f'.jcell[data-creneau="{slot}"][data-statut="LIBRE"]')
    secretary.eval("window.__sameDocument = true")

    # A patient books online: the cell turns pending live, with her name.
    alice = practice["alice@demo.fr"]
    status, rdv = http("POST", f"{practice['url']}/api/rendezvous/", {"creneau": r1, "motif": "Essoufflement"},
                       alice["access"])
    assert status == 201, rdv
    cell = f'.jcell[data-creneau="{r1}"]'
    secretary.wait(f'{cell}[data-statut="EN_ATTENTE"]')
    assert "Alice" in secretary.text(cell)

    # A doctor publishes a slot on his own: it appears live in his column only.
    (p2,) = publish(practice, petit, day, "10:00")
    secretary.wait(f'.journee-col[data-medecin="{petit["id"]}"] .jcell[data-creneau="{p2}"][data-statut="LIBRE"]')
    assert secretary.count(f'.journee-col[data-medecin="{roux["id"]}"] .jcell[data-creneau="{p2}"]') == 0

    # Confirm, by keyboard.
    secretary.press(f'{cell} [data-action="confirm"]', "Enter")
    secretary.wait(f'{cell}[data-statut="CONFIRME"]')
    no_serious_axe_violations(secretary, "day view")
    shot(secretary, "11-secretariat-journee")

    # By keyboard: the panel opens focused, Escape closes it and gives the focus back.
    secretary.press(f'{cell} [data-action="cancel"]', "Enter")
    secretary.wait("#cancel-phone")
    assert secretary.eval("document.activeElement.id") == "cancel-motif"
    secretary.press("#cancel-motif", "Escape")
    secretary.wait("#journee-panel", state="hidden")
    assert secretary.eval("document.activeElement.dataset.action") == "cancel"

    # Cancel: the panel shows how to reach the patient; the slot is free again, live.
    secretary.press(f'{cell} [data-action="cancel"]', "Enter")
    secretary.wait("#cancel-phone")
    secretary.waitFunction("() => !document.querySelector('#cancel-phone').textContent.includes('recherche')")
    assert "Prévenir le patient" in secretary.text("#cancel-phone")
    no_serious_axe_violations(secretary, "cancel panel")
    secretary.fill("#cancel-motif", "Médecin en formation")
    secretary.press("#cancel-motif", "Enter")
    secretary.wait(f'{cell}[data-statut="LIBRE"]')
    assert "Annulé : Alice" in secretary.text(cell)
    status, body = http("GET", f"{practice['url']}/api/rendezvous/{rdv['id']}/", token=alice["access"])
    assert status == 200 and body["statut"] == "ANNULE", body
    assert secretary.eval("window.__sameDocument") is True
    no_errors(secretary)

    # At phone width: the columns stack, nothing overflows, axe still clean.
    phone = sign_in(browser, "sec-phone", practice["url"], practice["secretary"],
                    viewport={"width": 375, "height": 800})
    go(phone, f"#/journee?date={day}")
    phone.wait(f'.jcell[data-creneau="{p2}"]')
    fits_the_width(phone)
    no_serious_axe_violations(phone, "day view at 375 px")
    shot(phone, "12-secretariat-journee-mobile")
    no_errors(phone)


def test_weekly_hours_generate_slots_and_an_absence_lists_the_bookings_to_move(browser, practice):  # noqa: F811
    roux, petit, _ = practice["doctors"]
    url = practice["url"]
    secretary = sign_in(browser, "sec-hours", url, practice["secretary"])
    go(secretary, "#/horaires")
    secretary.wait("#horaires-form")
    secretary.wait("#plages-empty")  # no hours yet
    secretary.wait("#medecin-select")
    choose_doctor(secretary, petit["id"])
    secretary.wait(f'#plages[data-medecin="{petit["id"]}"] #plages-empty')

    # Thursday 09:00–11:00 by 30 minutes, typed in and saved by keyboard.
    secretary.press("#plage-add", "Enter")
    secretary.wait('.plage[data-index="0"]')
    row = '.plage[data-index="0"]'
    secretary.eval(f"(() => {{ const s = document.querySelector('{row} .plage-jour'); s.value = '3';"
                   " s.dispatchEvent(new Event('change')); })()")
    secretary.fill(f"{row} .plage-debut", "09:00")
    secretary.fill(f"{row} .plage-fin", "11:00")
    secretary.eval(f"(() => {{ const s = document.querySelector('{row} .plage-duree'); s.value = '30';"
                   " s.dispatchEvent(new Event('change')); })()")
    secretary.press("#horaires-save", "Enter")
    secretary.wait('[data-testid="horaires-saved"]')
    status, body = http("GET", f"{url}/api/medecins/{petit['id']}/horaires/", token=petit["access"])
    assert status == 200, body
    assert body["horaires"] == [{"jour": 3, "debut": "09:00", "fin": "11:00", "duree_minutes": 30}]
    assert "créneaux générés" in secretary.text('[data-testid="horaires-saved"]')

    # Bad input is refused clearly and changes nothing: an end before the start.
    secretary.fill(f"{row} .plage-fin", "08:00")
    secretary.click("#horaires-save")
    secretary.wait('[data-testid="horaires-error"]')
    assert "La fin doit être après le début" in secretary.text('[data-testid="horaires-error"]')
    status, again = http("GET", f"{url}/api/medecins/{petit['id']}/horaires/", token=petit["access"])
    assert again["horaires"] == body["horaires"]
    no_serious_axe_violations(secretary, "hours editor")
    shot(secretary, "13-horaires")

    # The generated slots: book next Thursday's 09:00 for Bob.
    today = date.today()
    thursday = today + timedelta(days=(3 - today.weekday()) % 7 or 7)
    status, slots = http("GET", f"{url}/api/creneaux/?medecin={petit['id']}&disponible=true"
                         f"&date_from={thursday}T00:00:00&date_to={thursday + timedelta(days=1)}T00:00:00",
                         token=petit["access"])
    assert status == 200 and len(slots["results"]) == 4, slots
    bob = practice["bob@demo.fr"]
    status, rdv = http("POST", f"{url}/api/rendezvous/", {"creneau": slots["results"][0]["id"]}, bob["access"])
    assert status == 201, rdv

    # An absence that day: free slots withdrawn, Bob's booking listed to move.
    secretary.fill("#abs-debut-date", thursday.isoformat())
    secretary.fill("#abs-debut-time", "00:00")
    secretary.fill("#abs-fin-date", thursday.isoformat())
    secretary.fill("#abs-fin-time", "23:59")
    secretary.fill("#abs-motif", "Congrès")
    secretary.press("#abs-motif", "Enter")
    secretary.wait('[data-testid="absence-declared"]')
    assert "3 créneaux libres retirés" in secretary.text('[data-testid="absence-declared"]')
    secretary.wait(f'#a-deplacer .to-move[data-rdv="{rdv["id"]}"]')
    assert "Bob" in secretary.text(f'.to-move[data-rdv="{rdv["id"]}"]')
    secretary.wait("#abs-list [data-absence]")
    no_serious_axe_violations(secretary, "absences")
    shot(secretary, "14-absence")

    # The day view shows the absence in the doctor's column, and the booking left to move.
    go(secretary, f"#/journee?date={thursday}")
    note = f'.journee-col[data-medecin="{petit["id"]}"] .absence-note'
    secretary.wait(note)
    assert "Absent toute la journée — Congrès" in secretary.text(note)
    secretary.wait(f'.jcell[data-rdv="{rdv["id"]}"] [data-action="move"]')
    assert secretary.count(f'.journee-col[data-medecin="{roux["id"]}"] .absence-note') == 0
    go(secretary, "#/horaires")
    secretary.wait("#medecin-select")
    choose_doctor(secretary, petit["id"])
    secretary.wait(f'#plages[data-medecin="{petit["id"]}"] .plage')
    secretary.wait("#abs-list [data-absence]")

    # An absence in the past: a clear error, nothing recorded.
    yesterday = (today - timedelta(days=1)).isoformat()
    for field in ("#abs-debut-date", "#abs-fin-date"):
        secretary.eval(f"document.querySelector('{field}').removeAttribute('min')")
    secretary.fill("#abs-debut-date", yesterday)
    secretary.fill("#abs-fin-date", yesterday)
    secretary.click("#abs-submit")
    secretary.wait('[data-testid="absence-error"]')
    assert secretary.count("#abs-list [data-absence]") == 1

    # Removing the absence regenerates the day's free slots.
    secretary.click('#abs-list [data-action="delete-absence"]')
    secretary.wait("#abs-list [data-absence]", state="detached")
    status, slots = http("GET", f"{url}/api/creneaux/?medecin={petit['id']}&disponible=true"
                         f"&date_from={thursday}T00:00:00&date_to={thursday + timedelta(days=1)}T00:00:00",
                         token=petit["access"])
    assert len(slots["results"]) == 3, slots

    # At phone width.
    phone = sign_in(browser, "sec-hours-phone", url, practice["secretary"], viewport={"width": 360, "height": 780})
    go(phone, "#/horaires")
    phone.wait("#horaires-form .plage, #plages-empty")
    fits_the_width(phone)
    no_serious_axe_violations(phone, "hours editor at 360 px")
    no_errors_but(secretary, 400)  # the refused end-before-start hours and past absence
    no_errors(phone)


CONFLICT = "Ce créneau n'est plus disponible"


def test_secretary_books_a_phone_caller_created_on_the_spot_and_the_doctor_sees_it_live(browser, practice):  # noqa: F811
    """Issue 12 (a): the caller has no record; the secretary creates it, picks the slot and a
    visit reason; the booking is confirmed at once and the doctor's agenda shows it live."""
    blanc = practice["doctors"][2]
    url = practice["url"]
    day = far_day(3)
    s1, s2 = publish(practice, blanc, day, "14:00", "14:30")
    status, motif = http("POST", f"{url}/api/medecins/{blanc['id']}/motifs/",
                         {"libelle": "Renouvellement d'ordonnance", "duree_minutes": 15}, blanc["access"])
    assert status == 201, motif
    caller = f"Lemoine{uuid.uuid4().hex[:6]}"

    doctor = sign_in(browser, "blanc-agenda", url, blanc["email"])
    go(doctor, f"#/agenda?date={day}")
    doctor.wait(f'.agenda-row[data-creneau="{s1}"][data-statut="LIBRE"]')
    doctor.eval("window.__sameDocument = true")

    secretary = sign_in(browser, "sec-book", url, practice["secretary"])
    go(secretary, f"#/journee?date={day}")
    secretary.click(f'.jcell[data-creneau="{s1}"] [data-action="book"]')
    secretary.wait("#patient-q")
    secretary.fill("#patient-q", caller)
    secretary.wait("#patient-none")  # not known: a record is made on the phone
    secretary.press("#patient-new-toggle", "Enter")
    secretary.fill("#np-first", "Jeanne")
    secretary.fill("#np-last", caller)
    secretary.fill("#np-tel", "12")  # a bad number first: refused clearly, nothing made
    secretary.click("#np-submit")
    secretary.wait('[data-testid="bf-error"]')
    status, found = http("GET", f"{url}/api/patients/?q={caller}", token=practice["secretary_access"])
    assert status == 200 and found["results"] == [], found
    secretary.fill("#np-tel", "06 12 34 56 78")
    secretary.press("#np-tel", "Enter")
    secretary.wait("#patient-selected:not([hidden])")
    assert caller in secretary.text("#patient-selected")
    secretary.eval(f"(() => {{ const s = document.querySelector('#bf-motif-consultation'); s.value = '{motif['id']}';"
                   " s.dispatchEvent(new Event('change')); })()")
    no_serious_axe_violations(secretary, "booking for a patient")
    shot(secretary, "15-secretariat-reserver-pour-un-patient")
    secretary.press("#bf-confirm", "Enter")
    secretary.wait('[data-testid="journee-success"]')
    cell = f'.jcell[data-creneau="{s1}"][data-statut="CONFIRME"]'
    secretary.wait(cell)
    assert caller in secretary.text(cell)
    assert "Renouvellement d'ordonnance" in secretary.text(cell)

    # The doctor's agenda, live, without a reload: confirmed at once, the caller's name.
    row = f'.agenda-row[data-creneau="{s1}"][data-statut="CONFIRME"]'
    doctor.wait(row)
    assert caller in doctor.text(row)
    assert doctor.eval("window.__sameDocument") is True
    shot(doctor, "16-agenda-rdv-pris-par-le-secretariat")

    # The record: found by its phone however it is typed; no account to log into yet.
    status, found = http("GET", f"{url}/api/patients/?q=0612345678", token=practice["secretary_access"])
    assert status == 200, found
    record = next(p for p in found["results"] if p["last_name"] == caller)
    assert record["compte_actif"] is False and record["telephone"]

    # A second booking for the same caller: found by name this time.
    secretary.click(f'.jcell[data-creneau="{s2}"] [data-action="book"]')
    secretary.fill("#patient-q", caller[:9])
    secretary.click(f'.patient-option[data-patient="{record["id"]}"]')
    secretary.click("#bf-confirm")
    secretary.wait(f'.jcell[data-creneau="{s2}"][data-statut="CONFIRME"]')
    doctor.wait(f'.agenda-row[data-creneau="{s2}"][data-statut="CONFIRME"]')

    # Cancelling shows the caller's phone to warn them.
    secretary.click(f'.jcell[data-creneau="{s2}"] [data-action="cancel"]')
    secretary.waitFunction("() => document.querySelector('#cancel-phone a.phone')")
    assert "06 12 34 56 78" in secretary.text("#cancel-phone")
    secretary.click("#cancel-confirm")
    secretary.wait(f'.jcell[data-creneau="{s2}"][data-statut="LIBRE"]')
    no_errors_but(secretary, 400)  # the refused phone number
    no_errors(doctor)


def test_patient_moves_her_booking_and_the_secretary_sees_the_move_live(browser, practice):  # noqa: F811
    """Issue 12 (b), with the practice's deadline shown to the patient before it bites."""
    roux = practice["doctors"][0]
    url = practice["url"]
    day = far_day(5)
    m1, m2 = publish(practice, roux, day, "11:00", "11:30")
    alice = practice["alice@demo.fr"]
    status, rdv = http("POST", f"{url}/api/rendezvous/", {"creneau": m1}, alice["access"])
    assert status == 201, rdv

    # The secretary sets a 48-hour deadline on the rules screen.
    secretary = sign_in(browser, "sec-move", url, practice["secretary"])
    go(secretary, "#/reglages")
    secretary.wait("#regle-delai_annulation_heures")
    secretary.fill("#regle-delai_annulation_heures", "48")
    secretary.click("#regles-save")
    secretary.wait('[data-testid="regles-saved"]')
    no_serious_axe_violations(secretary, "motifs and rules")
    go(secretary, f"#/journee?date={day}")
    secretary.wait(f'.jcell[data-creneau="{m1}"][data-statut="EN_ATTENTE"]')
    secretary.eval("window.__sameDocument = true")

    patient = sign_in(browser, "alice-move", url, "alice@demo.fr", viewport={"width": 390, "height": 844})
    go(patient, "#/mes-rdv")
    card = f'.rdv[data-rdv="{rdv["id"]}"]'
    patient.wait(f'{card} [data-testid="annulable"]')
    assert "possible jusqu'au" in patient.text(f'{card} [data-testid="annulable"]')
    two_days_before = date.fromisoformat(day) - timedelta(days=2)
    note = patient.text(f'{card} [data-testid="annulable"]')
    assert f"{two_days_before.day} " in note and "à 11:00" in note, note  # 48 h before 11:00
    patient.press(f'{card} [data-action="move"]', "Enter")
    patient.wait(f'{card} .move-target[data-creneau="{m2}"]')
    assert patient.count(f'{card} .move-target[data-creneau="{m1}"]') == 0
    fits_the_width(patient)
    no_serious_axe_violations(patient, "move picker at 390 px")
    shot(patient, "17-patient-deplacer")
    patient.press(f'{card} .move-target[data-creneau="{m2}"]', "Enter")
    patient.wait(f'.rdv[data-rdv="{rdv["id"]}"][data-creneau="{m2}"]')
    patient.wait(".toast-success")

    # The secretary's day shows the move live: the new slot taken, the old one free.
    secretary.wait(f'.jcell[data-creneau="{m2}"][data-statut="EN_ATTENTE"][data-rdv="{rdv["id"]}"]')
    assert "Alice" in secretary.text(f'.jcell[data-creneau="{m2}"]')
    assert "Déplacé" in secretary.text(f'.jcell[data-creneau="{m2}"]')
    secretary.wait(f'.jcell[data-creneau="{m1}"][data-statut="LIBRE"]')
    assert secretary.eval("window.__sameDocument") is True
    shot(secretary, "18-secretariat-deplacement-en-direct")
    status, body = http("GET", f"{url}/api/rendezvous/{rdv['id']}/", token=alice["access"])
    assert status == 200 and body["creneau"]["id"] == m2 and body["ancien_creneau"] == m1, body
    for page in (patient, secretary):
        no_errors(page)


def test_a_move_racing_a_booking_for_one_slot_one_wins_the_other_is_told(browser, practice):  # noqa: F811
    """Issue 12 (c): the secretary moves Bob onto a slot at the instant Chloé chooses it (her
    booking panel holds it, issue 13): the database decides; the loser is told."""
    roux = practice["doctors"][0]
    url = practice["url"]
    day = far_day(7)
    x1, x2 = publish(practice, roux, day, "15:00", "15:30")
    bob = practice["bob@demo.fr"]
    status, rdv = http("POST", f"{url}/api/rendezvous/", {"creneau": x1}, bob["access"])
    assert status == 201, rdv

    secretary = sign_in(browser, "sec-race", url, practice["secretary"])
    go(secretary, f"#/journee?date={day}")
    secretary.click(f'.jcell[data-creneau="{x1}"] [data-action="move"]')
    secretary.wait(f'#move-picker .move-target[data-creneau="{x2}"]')

    chloe = sign_in(browser, "chloe-race", url, "chloe@demo.fr")
    go(chloe, f"#/rdv?medecin={roux['id']}&date={day}")
    chloe.wait(f'.slot[data-creneau="{x2}"]')

    browser.call("clickMany", targets=[
        {"page": "sec-race", "selector": f'#move-picker .move-target[data-creneau="{x2}"]'},
        {"page": "chloe-race", "selector": f'.slot[data-creneau="{x2}"]'},
    ])
    moved = secretary.waitFunction(
        "() => document.querySelector('[data-testid=journee-success]') ? 'won'"
        " : document.querySelector('[data-testid=move-error]') ? 'lost' : null")
    held = chloe.waitFunction(
        "() => document.querySelector('#hold-countdown') ? 'won'"
        " : document.querySelector('[data-testid=banner-error]') ? 'lost' : null")
    assert sorted([moved, held]) == ["lost", "won"], (moved, held)
    if moved == "lost":
        # Chloé holds it: the desk waits (staff included), she books it.
        assert "Ce créneau est en cours de réservation par un autre patient" in secretary.text(
            '[data-testid="move-error"]')
        shot(secretary, "19-deplacement-perdu")
        chloe.click("#book-confirm")
        chloe.wait('[data-testid="banner-success"]')
    else:
        assert CONFLICT in chloe.text('[data-testid="banner-error"]')
        assert chloe.count("#book-confirm") == 0
        chloe.wait(f'.slot[data-creneau="{x2}"]', state="detached")

    # The database decided: one active booking on the slot; the loser's state is untouched.
    token = roux["access"]
    status, body = http("GET", f"{url}/api/rendezvous/?medecin={roux['id']}"
                        f"&date_from={day}T00:00:00&date_to={day}T23:59:00", token=token)
    assert status == 200, body
    active = [r for r in body["results"] if r["statut"] != "ANNULE"]
    assert [r["creneau"]["id"] for r in active].count(x2) == 1, active
    bob_now = next(r for r in active if r["id"] == rdv["id"])
    assert bob_now["creneau"]["id"] == (x1 if moved == "lost" else x2), bob_now
    for page in (secretary, chloe):
        no_errors(page)


def test_visit_reasons_and_rules_are_set_by_the_practice_and_shown_to_the_patient(browser, practice):  # noqa: F811
    """The secretary adds visit reasons and a minimum notice; the patient sees them before
    booking, must pick a reason, cannot pick one longer than the slot; a doctor closed to
    new patients online refuses a newcomer with a clear message."""
    blanc = practice["doctors"][2]
    url = practice["url"]
    day = far_day(9)
    b1, b2 = publish(practice, blanc, day, "10:00", "10:30")
    tag = uuid.uuid4().hex[:4]

    secretary = sign_in(browser, "sec-rules", url, practice["secretary"])
    go(secretary, "#/reglages")
    secretary.wait("#medecin-select")
    choose_doctor(secretary, blanc["id"])
    secretary.wait(f'#motif-list[data-medecin="{blanc["id"]}"]')
    for label, minutes in ((f"Bilan complet {tag}", "60"), (f"Consultation courte {tag}", "15")):
        secretary.fill("#motif-libelle", label)
        secretary.fill("#motif-duree", minutes)
        secretary.press("#motif-libelle", "Enter")
        secretary.waitFunction(f"() => document.querySelector('#motif-list').textContent.includes({label!r})")
    secretary.fill("#motif-libelle", f"Consultation courte {tag}")  # a duplicate: refused clearly
    secretary.click("#motif-submit")
    secretary.wait('[data-testid="motif-error"]')
    secretary.fill("#regle-preavis_minimum_minutes", "90")
    secretary.click("#regles-save")
    secretary.wait('[data-testid="regles-saved"]')
    no_serious_axe_violations(secretary, "motifs and rules")
    shot(secretary, "20-motifs-et-regles")

    alice = sign_in(browser, "alice-rules", url, "alice@demo.fr")
    go(alice, f"#/rdv?medecin={blanc['id']}&date={day}")
    alice.click(f'.slot[data-creneau="{b1}"]')
    alice.wait("#motif-consultation")
    assert "Réservation en ligne jusqu'à 90 min avant le créneau" in alice.text("#rules-note")
    too_long = alice.eval("[...document.querySelectorAll('#motif-consultation option')]"
                          f".find(o => o.textContent.startsWith('Bilan complet {tag}')).disabled")
    assert too_long is True
    alice.click("#book-confirm")  # no reason chosen: the form itself refuses, nothing is sent
    assert alice.eval("document.querySelector('#motif-consultation').validity.valueMissing") is True
    assert alice.count('[data-testid="banner-success"]') == 0
    alice.eval(f"(() => {{ const s = document.querySelector('#motif-consultation');"
               f" s.value = [...s.options].find(o => o.textContent.startsWith('Consultation courte {tag}')).value;"
               " s.dispatchEvent(new Event('change')); })()")
    no_serious_axe_violations(alice, "booking with a visit reason")
    shot(alice, "21-patient-motif-et-regles")
    alice.click("#book-confirm")
    alice.wait('[data-testid="banner-success"]')
    status, mine = http("GET", f"{url}/api/rendezvous/?medecin={blanc['id']}",
                        token=practice["alice@demo.fr"]["access"])
    booked = next(r for r in mine["results"] if r["creneau"]["id"] == b1)
    assert booked["motif_consultation"]["libelle"] == f"Consultation courte {tag}", booked

    # The doctor closes to new patients online: Chloé, who never saw him, is told why.
    secretary.click("#nouveaux-patients")
    secretary.waitFunction("() => document.querySelector('#nouveaux-patients').checked === false"
                           " && document.querySelector('.alert-success')")
    chloe = sign_in(browser, "chloe-rules", url, "chloe@demo.fr")
    go(chloe, f"#/rdv?medecin={blanc['id']}&date={day}")
    chloe.click(f'.slot[data-creneau="{b2}"]')
    chloe.wait("#rules-note")
    chloe.wait("#motif-consultation")
    assert "ne prend pas de nouveaux patients en ligne" in chloe.text("#rules-note")
    chloe.eval(f"(() => {{ const s = document.querySelector('#motif-consultation'); s.value = [...s.options]"
               f".find(o => o.textContent.startsWith('Consultation courte {tag}')).value; }})()")
    chloe.click("#book-confirm")
    chloe.wait('[data-testid="banner-error"]')
    assert "n'accepte pas de nouveaux patients" in chloe.text('[data-testid="banner-error"]')
    chloe.click("#book-cancel")  # her hold goes with the panel
    deadline = time.monotonic() + 5
    while (slot := http("GET", f"{url}/api/creneaux/{b2}/", token=blanc["access"])[1])["disponible"] is not True \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert slot["disponible"] is True, slot  # nothing written, the hold released
    status, body = http("PATCH", f"{url}/api/medecins/{blanc['id']}/", {"nouveaux_patients_en_ligne": True},
                        practice["secretary_access"])
    assert status == 200, body
    status, body = http("PATCH", f"{url}/api/cabinets/{practice['cabinet']}/regles/",
                        {"preavis_minimum_minutes": 0}, practice["secretary_access"])
    assert status == 200, body
    no_errors_but(secretary, 409)
    no_errors(alice)
    no_errors_but(chloe, 403)


# Every screen of every role at 360, 390 and 768 px (fits, one <h1>, axe): test_browser_a11y.py.


def test_a_patient_made_on_the_phone_claims_the_record_from_the_e_mail_link(browser, practice, live):  # noqa: F811
    """The reset link (the e-mail the server really sent, read from the server's console mail
    backend) opens the front's "choose your password" page; the same account, its booking kept."""
    import re
    import time

    roux = practice["doctors"][0]
    url = practice["url"]
    tag = uuid.uuid4().hex[:8]
    email = f"claim.{tag}@exemple.fr"
    status, patient = http("POST", f"{url}/api/patients/", {"first_name": "Nina", "last_name": f"Garnier{tag}",
                           "telephone": "07 11 22 33 44", "email": email}, practice["secretary_access"])
    assert status == 201, patient
    (slot,) = publish(practice, roux, far_day(11), "16:00")
    status, rdv = http("POST", f"{url}/api/rendezvous/", {"creneau": slot, "patient": patient["id"]},
                       practice["secretary_access"])
    assert status == 201, rdv

    page = browser.page(f"claim-{tag}", viewport={"width": 375, "height": 760})
    page.goto(url + "/login")
    page.wait("#login-form")
    page.click("#forgot")
    page.fill("#reset-email", email)
    page.press("#reset-email", "Enter")
    page.wait("#reset-sent")
    assert "Si un compte existe" in page.text("#reset-sent")
    no_serious_axe_violations(page, "forgotten password")

    link = None
    deadline = time.monotonic() + 15
    while link is None and time.monotonic() < deadline:
        output = live.servers[0].log.read_text(errors="replace")
        sent = output[output.rfind(f"To: {email}"):] if f"To: {email}" in output else ""
        found = re.findall(r"/reinitialiser\?uid=([\w-]+)&token=([\w-]+)", sent)
        link = found[0] if found else None
        time.sleep(0.2)
    assert link, "no reset e-mail in the server's console output"

    page.goto(f"{url}/reinitialiser?uid={link[0]}&token=not-the-token")
    page.wait("#new-password-form")
    page.fill("#new-password", "Tilleul-2031!")
    page.fill("#new-password-2", "Tilleul-2031!")
    page.click("#new-password-submit")
    page.wait('[data-testid="reset-error"]')

    page.goto(f"{url}/reinitialiser?uid={link[0]}&token={link[1]}")
    page.wait("#new-password-form")
    no_serious_axe_violations(page, "choose a password")
    fits_the_width(page)
    shot(page, "22-choisir-mot-de-passe")
    page.fill("#new-password", "Tilleul-2031!")
    page.fill("#new-password-2", "Tilleul-2031!")
    page.press("#new-password-2", "Enter")
    page.wait("#login-info:not([hidden])")
    assert "mot de passe a été modifié" in page.text("#login-info")
    # At once: the reset's revocation closes old sockets, never the new log-in's.
    page.fill("#email", email)
    page.fill("#password", "Tilleul-2031!")
    page.press("#password", "Enter")
    page.wait('#live[data-live="on"]')
    go(page, "#/mes-rdv")
    page.wait(f'.rdv[data-rdv="{rdv["id"]}"][data-statut="CONFIRME"]')  # the same account, its history
    status, found = http("GET", f"{url}/api/patients/?q={tag}", token=practice["secretary_access"])
    assert [p["id"] for p in found["results"]] == [patient["id"]] and found["results"][0]["compte_actif"], found
    no_errors_but(page, 400)  # the refused bad token


def test_the_doctor_moves_a_booking_from_his_agenda_and_the_patient_sees_it_live(browser, practice):  # noqa: F811
    petit = practice["doctors"][1]
    url = practice["url"]
    day = far_day(13)
    d1, d2 = publish(practice, petit, day, "17:00", "17:30")
    bob = practice["bob@demo.fr"]
    status, rdv = http("POST", f"{url}/api/rendezvous/", {"creneau": d1}, bob["access"])
    assert status == 201, rdv

    patient = sign_in(browser, "bob-live-move", url, "bob@demo.fr")
    go(patient, "#/mes-rdv")
    patient.wait(f'.rdv[data-rdv="{rdv["id"]}"][data-creneau="{d1}"]')
    patient.eval("window.__sameDocument = true")

    doctor = sign_in(browser, "petit-move", url, petit["email"])
    go(doctor, f"#/agenda?date={day}")
    row = f'.agenda-row[data-creneau="{d1}"]'
    doctor.click(f'{row} [data-action="move"]')
    doctor.wait(f'{row} .move-target[data-creneau="{d2}"]')
    no_serious_axe_violations(doctor, "agenda move picker")
    doctor.click(f'{row} .move-target[data-creneau="{d2}"]')
    doctor.wait(f'.agenda-row[data-creneau="{d2}"][data-rdv="{rdv["id"]}"]')
    doctor.wait(f'.agenda-row[data-creneau="{d1}"][data-statut="LIBRE"]')

    # Bob's list follows without a reload: the booking now shows its new time, marked moved.
    card = f'.rdv[data-rdv="{rdv["id"]}"][data-creneau="{d2}"]'
    patient.wait(card)
    assert "17:30" in patient.text(card) and "Déplacé" in patient.text(card)
    assert patient.eval("window.__sameDocument") is True
    for page in (patient, doctor):
        no_errors(page)


def test_past_the_deadline_the_patient_is_sent_to_the_desk_and_the_desk_still_cancels(browser, practice):  # noqa: F811
    """The deadline bites: no move or cancel offered to the patient, the reason shown; the
    secretary is not bound by it."""
    roux = practice["doctors"][0]
    url = practice["url"]
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    (slot,) = publish(practice, roux, tomorrow, "20:00")
    alice = practice["alice@demo.fr"]
    status, rdv = http("POST", f"{url}/api/rendezvous/", {"creneau": slot}, alice["access"])
    assert status == 201, rdv
    status, body = http("PATCH", f"{url}/api/cabinets/{practice['cabinet']}/regles/",
                        {"delai_annulation_heures": 48}, practice["secretary_access"])
    assert status == 200, body

    patient = sign_in(browser, "alice-late", url, "alice@demo.fr")
    go(patient, "#/mes-rdv")
    card = f'.rdv[data-rdv="{rdv["id"]}"]'
    patient.wait(f'{card} [data-testid="annulable"]')
    assert "Délai dépassé" in patient.text(f'{card} [data-testid="annulable"]')
    assert "appelez le cabinet" in patient.text(f'{card} [data-testid="annulable"]')
    assert patient.count(f'{card} [data-action="move"]') == 0
    assert patient.count(f'{card} [data-action="cancel"]') == 0
    no_serious_axe_violations(patient, "booking past its deadline")

    secretary = sign_in(browser, "sec-late", url, practice["secretary"])
    go(secretary, f"#/journee?date={tomorrow}")
    cell = f'.jcell[data-creneau="{slot}"]'
    secretary.click(f'{cell} [data-action="cancel"]')
    secretary.fill("#cancel-motif", "Médecin absent")
    secretary.click("#cancel-confirm")
    secretary.wait(f'{cell}[data-statut="LIBRE"]')
    patient.wait(f'.rdv[data-rdv="{rdv["id"]}"][data-statut="ANNULE"]')  # live on her side
    for page in (patient, secretary):
        no_errors(page)


def test_the_secretary_drags_a_booking_onto_another_doctors_free_slot(browser, practice):  # noqa: F811
    roux, petit, _ = practice["doctors"]
    url = practice["url"]
    day = far_day(15)
    (g1,) = publish(practice, roux, day, "13:00")
    (g2,) = publish(practice, petit, day, "13:30")
    bob = practice["bob@demo.fr"]
    status, rdv = http("POST", f"{url}/api/rendezvous/", {"creneau": g1}, bob["access"])
    assert status == 201, rdv

    secretary = sign_in(browser, "sec-drag", url, practice["secretary"])
    go(secretary, f"#/journee?date={day}")
    secretary.wait(f'.jcell[data-creneau="{g1}"][data-rdv="{rdv["id"]}"]')
    secretary.wait(f'.jcell[data-creneau="{g2}"][data-statut="LIBRE"]')
    secretary.drag(source=f'.jcell[data-creneau="{g1}"]', target=f'.jcell[data-creneau="{g2}"]')
    moved = f'.journee-col[data-medecin="{petit["id"]}"] .jcell[data-creneau="{g2}"][data-rdv="{rdv["id"]}"]'
    secretary.wait(moved)
    secretary.wait(f'.jcell[data-creneau="{g1}"][data-statut="LIBRE"]')
    secretary.wait('[data-testid="journee-success"]')
    status, body = http("GET", f"{url}/api/rendezvous/{rdv['id']}/", token=bob["access"])
    assert body["creneau"]["id"] == g2 and body["medecin"]["id"] == petit["id"], body
    no_errors(secretary)
