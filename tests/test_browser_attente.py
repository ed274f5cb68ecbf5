"""The patient's booking panel in Chromium (issues 13 and 14): the slot held while booking
with its countdown, released on close, lapsing and retaken; the waiting list (register,
an offer arriving live when another patient cancels, booking it, leaving); at 360, 390 and
768 px the week is a list of days and nothing overflows; a slot booked end to end by
keyboard only at 390 px, axe-core clean with the panel open.

Each test makes a practice of its own (doctors, patients) so that no other test's slots
or rules interfere. The hold and waiting-list tests run on a stack of their own whose
holds last HOLD_SECONDS (the scheduler pass every second), so a lapse is seen in the test.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import date, timedelta

import pytest

from .helpers import MOIS as MONTHS
from .live import http, login, start_stack
from .test_browser import ARTIFACTS, browser, go, shot  # noqa: F401  (browser: a fixture)
from .test_browser_practice import fits_the_width, no_errors_but, no_serious_axe_violations, publish

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PASSWORD = "demo1234"
HOLD_SECONDS = 12
PHONE = {"width": 390, "height": 844}

MAKE_PRACTICE = """
import json
from django.contrib.auth.hashers import make_password
from rendezvous.models import Cabinet, Medecin, Role, User
tag = {tag!r}
cabinet = Cabinet.objects.create(nom=f"Cabinet des Ormes {{tag}}", ville="Rennes", timezone="Europe/Paris")
pw = make_password({password!r})
ids = {{"doctors": [], "patients": []}}
for i, last in enumerate(("Clavier", "Lenoir")):
    u = User.objects.create_user_with_hash(f"dr{{i}}.{{tag}}@ormes.test", pw, first_name="Jeanne",
                                           last_name=f"{{last}}{{tag}}", role=Role.MEDECIN, cabinet=cabinet)
    Medecin.objects.create(user=u, cabinet=cabinet, specialite="Médecine générale")
    ids["doctors"].append({{"id": u.id, "email": u.email, "name": u.last_name}})
for login, first in (("paula", "Paula"), ("hugo", "Hugo"), ("ines", "Inès")):
    u = User.objects.create_user_with_hash(f"{{login}}.{{tag}}@patients.test", pw, first_name=first,
                                           last_name=f"Patient{{tag}}", role=Role.PATIENT)
    ids["patients"].append({{"id": u.id, "email": u.email}})
print("PRACTICE=" + json.dumps(ids))
"""


def make_practice(stack) -> dict:
    out = stack.manage("shell", "-c", MAKE_PRACTICE.format(tag=uuid.uuid4().hex[:6], password=PASSWORD))
    data = json.loads(next(line for line in out.splitlines() if line.startswith("PRACTICE="))[9:])
    for person in data["doctors"] + data["patients"]:
        person["access"] = login(stack.url, person["email"], PASSWORD)["access"]
    data["url"] = stack.url
    data["stack"] = stack
    return data


@pytest.fixture(scope="module")
def short_holds(tmp_path_factory):
    """A stack of its own: holds last HOLD_SECONDS, lapsed ones are closed every second."""
    from .conftest import has_postgres

    stack = start_stack(
        tmp_path_factory.mktemp("short-holds"),
        postgres=has_postgres(),
        extra_env={"RETENUE_SECONDES": str(HOLD_SECONDS), "RETENUES_INTERVAL_SECONDES": "1"},
    )
    yield stack
    stack.close()


def far_day() -> str:
    d = date.today() + timedelta(days=400 + uuid.uuid4().int % 2000)
    return (d - timedelta(days=d.weekday() - 2)).isoformat()  # a Wednesday


def sign_in(browser, name: str, url: str, email: str, *, viewport: dict | None = None):  # noqa: F811
    """By keyboard: the login screen opens with the focus in the e-mail field."""
    page = browser.page(name, **({"viewport": viewport} if viewport else {}))
    page.goto(url + "/")
    page.wait("#login-form")
    assert page.eval("document.activeElement.id") == "email"
    page.type(email)
    page.key("Tab")
    assert page.eval("document.activeElement.id") == "password"
    page.type(PASSWORD)
    page.key("Enter")
    page.wait('#live[data-live="on"]')
    return page


def tab_to(page, selector: str, *, limit: int = 120) -> None:
    """Press Tab until the focus is on `selector` (the keyboard's only way around)."""
    for _ in range(limit):
        if page.eval(f"!!document.activeElement && document.activeElement.matches({selector!r})"):
            return
        page.key("Tab")
    raise AssertionError(f"{selector} not reached with {limit} Tabs")


def focused(page) -> dict:
    return page.eval(
        "(() => { const e = document.activeElement; return {id: e.id, tag: e.tagName,"
        " creneau: e.dataset.creneau || null, label: e.getAttribute('aria-label')}; })()"
    )


def in_view(page, selector: str) -> bool:
    return page.eval(
        f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
        " return r.top >= 0 && r.top < window.innerHeight; })()"
    )


def rdv_of(practice, patient: dict) -> list[dict]:
    status, body = http("GET", f"{practice['url']}/api/rendezvous/", token=patient["access"])
    assert status == 200, body
    return body["results"]


# --- holds -------------------------------------------------------------------------------


def test_the_panel_holds_the_slot_with_a_countdown_releases_it_and_says_when_it_lapses(browser, short_holds):  # noqa: F811
    practice = make_practice(short_holds)
    doctor = practice["doctors"][0]
    paula, hugo = practice["patients"][:2]
    day = far_day()
    s1, s2 = publish(practice, doctor, day, "09:00", "09:30")

    page = sign_in(browser, "hold-paula", practice["url"], paula["email"])
    go(page, f"#/rdv?medecin={doctor['id']}&date={day}")
    page.wait(f'.slot[data-creneau="{s1}"]')
    d = date.fromisoformat(day)
    label = page.eval(f"document.querySelector('.slot[data-creneau=\"{s1}\"]').getAttribute('aria-label')")
    assert label == f"mercredi {d.day} {MONTHS[d.month - 1]} à 09:00"

    # Opening the panel holds the slot: the countdown runs, said once to screen readers.
    page.click(f'.slot[data-creneau="{s1}"]')
    page.wait("#hold-countdown")
    assert re.fullmatch(r"Créneau réservé pour vous pendant 0:(1[0-2]|0\d)", page.text("#hold-countdown"))
    assert page.eval("document.getElementById('hold-countdown').closest('[aria-live]')") is None
    assert page.eval("document.getElementById('hold-announce').getAttribute('aria-live')") == "polite"
    assert page.text("#hold-announce").startswith("Créneau réservé pour vous pendant")
    first = page.text("#hold-countdown")
    page.waitFunction(f"() => document.getElementById('hold-countdown').textContent !== {first!r}")
    # Another patient can neither hold nor book it meanwhile.
    status, body = http("POST", f"{practice['url']}/api/creneaux/{s1}/hold/", token=hugo["access"])
    assert (status, body["code"], body["message"]) == (
        409,
        "creneau_retenu",
        "Ce créneau est en cours de réservation par un autre patient",
    ), body
    status, body = http("POST", f"{practice['url']}/api/rendezvous/", {"creneau": s1}, token=hugo["access"])
    assert (status, body["code"]) == (409, "creneau_retenu"), body

    # Escape closes the panel, the focus goes back to the slot, the hold is released.
    page.press("#motif", "Escape")
    page.wait("#booking-panel", state="hidden")
    assert focused(page)["creneau"] == str(s1)
    deadline = time.monotonic() + 5
    while True:
        status, body = http("POST", f"{practice['url']}/api/creneaux/{s1}/hold/", token=hugo["access"])
        if status == 201 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 201, body  # Hugo may hold it now
    # Held by Hugo: gone from Paula's week live; choosing it says so, no form opens.
    page.wait(f'.slot[data-creneau="{s1}"]', state="detached")
    status, _ = http("DELETE", f"{practice['url']}/api/creneaux/{s1}/hold/", token=hugo["access"])
    assert status == 204
    page.wait(f'.slot[data-creneau="{s1}"]')  # back live
    http("POST", f"{practice['url']}/api/creneaux/{s1}/hold/", token=hugo["access"])
    page.wait(f'.slot[data-creneau="{s1}"]', state="detached")

    # Paula takes s2 and lets the hold lapse: told clearly, offered to take it again.
    page.click(f'.slot[data-creneau="{s2}"]')
    page.wait("#hold-countdown")
    page.wait('[data-testid="hold-lapsed"]', timeout=(HOLD_SECONDS + 5) * 1000)
    assert page.text('[data-testid="hold-lapsed"]') == (
        "Le délai est dépassé : ce créneau n’est plus réservé pour vous et peut être pris par un autre patient."
    )
    assert page.text("#hold-announce") == page.text('[data-testid="hold-lapsed"]')
    assert page.eval("document.getElementById('book-confirm').disabled") is True
    assert focused(page)["id"] == "hold-again"
    shot(page, "attente-01-retenue-expiree")
    # Taken again: a fresh countdown, booking works.
    page.key("Enter")
    page.wait('[data-testid="hold-lapsed"]', state="detached")
    assert page.eval("document.getElementById('book-confirm').disabled") is False
    page.click("#book-confirm")
    page.wait('[data-testid="banner-success"]')
    assert [r["creneau"]["id"] for r in rdv_of(practice, paula)] == [s2]

    # Hugo's own hold on s1 lapses while Inès books it: his "Reprendre" then says it is gone.
    hugo_page = sign_in(browser, "hold-hugo", practice["url"], hugo["email"])
    go(hugo_page, f"#/rdv?medecin={doctor['id']}&date={day}")
    hugo_page.wait(f'.slot[data-creneau="{s1}"]', timeout=(HOLD_SECONDS + 5) * 1000)  # his API hold lapsed
    hugo_page.click(f'.slot[data-creneau="{s1}"]')
    hugo_page.wait('[data-testid="hold-lapsed"]', timeout=(HOLD_SECONDS + 5) * 1000)
    ines = practice["patients"][2]
    status, body = http("POST", f"{practice['url']}/api/rendezvous/", {"creneau": s1}, token=ines["access"])
    assert status == 201, body
    hugo_page.click("#hold-again")
    hugo_page.wait('[data-testid="banner-error"]')
    assert hugo_page.text('[data-testid="banner-error"] span') == (
        "Ce créneau n'est plus disponible : il vient d'être réservé ou retiré."
    )
    assert hugo_page.eval("document.getElementById('booking-panel').hidden") is True
    assert hugo_page.count(f'.slot[data-creneau="{s1}"]') == 0
    no_errors_but(page)
    no_errors_but(hugo_page)


# --- the waiting list --------------------------------------------------------------------


def test_a_patient_on_the_waiting_list_gets_the_offer_live_when_another_cancels_and_books_it(browser, short_holds):  # noqa: F811
    practice = make_practice(short_holds)
    doctor, other_doctor = practice["doctors"]
    paula, hugo = practice["patients"][:2]
    day = far_day()
    (slot,) = publish(practice, doctor, day, "10:00")
    status, booked = http(
        "POST", f"{practice['url']}/api/rendezvous/", {"creneau": slot, "motif": "x"}, token=hugo["access"]
    )
    assert status == 201, booked

    # Paula sees a full week: the waiting-list button, the form on the days shown.
    page = sign_in(browser, "wl-paula", practice["url"], paula["email"])
    go(page, f"#/rdv?medecin={doctor['id']}&date={day}")
    page.wait("#waitlist-open")
    assert page.text("#waitlist-open") == "M'inscrire sur la liste d'attente"
    page.click("#waitlist-open")
    page.wait("#waitlist-form")
    monday = date.fromisoformat(day) - timedelta(days=date.fromisoformat(day).weekday())
    assert page.eval("document.getElementById('wl-from').value") == monday.isoformat()
    assert page.eval("document.getElementById('wl-to').value") == (monday + timedelta(days=6)).isoformat()
    # A range ending before it starts: the server's code, said in French; nothing registered.
    page.fill("#wl-to", (monday - timedelta(days=1)).isoformat())
    page.click("#wl-submit")
    page.wait('[data-testid="wl-error"]')
    assert page.eval("document.querySelector('[data-testid=wl-error]').dataset.code") == "periode_invalide"
    assert page.text('[data-testid="wl-error"]') == "La date de fin doit suivre la date de début."
    # Past days (the fields' `min` taken off, as an old browser would): periode_passee.
    page.eval("['wl-from', 'wl-to'].forEach((id) => document.getElementById(id).removeAttribute('min'))")
    page.fill("#wl-from", "2020-01-06")
    page.fill("#wl-to", "2020-01-12")
    page.click("#wl-submit")
    page.waitFunction("() => document.querySelector('[data-testid=wl-error]')?.dataset.code === 'periode_passee'")
    assert page.text('[data-testid="wl-error"]') == "Cette période est déjà passée : choisissez des dates à venir."
    status, entries = http("GET", f"{practice['url']}/api/liste-attente/", token=paula["access"])
    assert entries == []
    page.fill("#wl-from", monday.isoformat())
    page.fill("#wl-to", (monday + timedelta(days=6)).isoformat())
    page.click("#wl-submit")
    page.wait("#wl-done")
    assert page.text("#wl-done").startswith(f"Vous êtes inscrit sur la liste d'attente de Dr Jeanne {doctor['name']}")
    # Twice: deja_en_attente, in French.
    page.click("#waitlist-open")
    page.wait("#waitlist-form")
    page.click("#wl-submit")
    page.wait('[data-testid="wl-error"]')
    assert page.eval("document.querySelector('[data-testid=wl-error]').dataset.code") == "deja_en_attente"
    assert page.text('[data-testid="wl-error"]') == (
        "Vous êtes déjà sur la liste d'attente de ce médecin pour ces dates."
    )
    # And on another doctor's list, to leave it below.
    status, other = http(
        "POST",
        f"{practice['url']}/api/liste-attente/",
        {"medecin": other_doctor["id"], "date_from": day, "date_to": day},
        token=paula["access"],
    )
    assert status == 201, other

    # "Mes rendez-vous" lists both entries, no offer yet; she leaves the other doctor's.
    go(page, "#/mes-rdv")
    entry = f'[data-liste-attente="{other["id"]}"]'
    page.wait(entry)
    page.wait(f'.waitlist-entry:not([data-liste-attente="{other["id"]}"])')
    page.click(f'{entry} [data-action="leave"]')
    page.wait(entry, state="detached")
    status, entries = http("GET", f"{practice['url']}/api/liste-attente/", token=paula["access"])
    [mine] = entries
    assert mine["medecin"] == doctor["id"] and mine["offre"] is None

    # Hugo cancels: the slot is offered to Paula live (toast, and the entry shows it).
    status, body = http("POST", f"{practice['url']}/api/rendezvous/{booked['id']}/cancel/", {}, token=hugo["access"])
    assert status == 200, body
    row = f'[data-liste-attente="{mine["id"]}"]'
    page.wait(f'{row}[data-offre="{slot}"]')
    status, entries = http("GET", f"{practice['url']}/api/liste-attente/", token=paula["access"])
    until = entries[0]["offre"]["expire_at"][11:16]
    d = date.fromisoformat(day)
    expected = re.compile(
        rf"Un créneau s'est libéré pour vous : Mercredi {d.day} {MONTHS[d.month - 1]} {d.year}"
        rf" à 10:00, réservé jusqu'à {until}"
    )
    toasts = page.eval("[...document.querySelectorAll('.toast-message')].map(t => t.textContent)")
    assert any(expected.fullmatch(t) for t in toasts), toasts
    assert expected.fullmatch(page.text(f'{row} [data-testid="offer"]')), page.text(row)
    shot(page, "24-liste-attente-offre")
    # Others cannot take it meanwhile.
    status, body = http("POST", f"{practice['url']}/api/creneaux/{slot}/hold/", token=hugo["access"])
    assert (status, body["code"]) == (409, "creneau_retenu"), body

    # "Réserver" opens the booking panel on that slot, already hers; she books it.
    page.click(f'{row} [data-action="book-offer"]')
    page.wait("#book-confirm")
    assert page.text("#hold-announce") == (
        f"Créneau proposé depuis la liste d'attente, réservé pour vous jusqu'à {until}."
    )
    page.click("#book-confirm")
    page.wait('[data-testid="banner-success"]')

    # The booking is in "Mes rendez-vous", waiting for the doctor (an online booking), and the
    # entry is served and closed.
    go(page, "#/mes-rdv")
    [rdv] = rdv_of(practice, paula)
    assert (rdv["creneau"]["id"], rdv["statut"]) == (slot, "EN_ATTENTE")
    page.wait(f'.rdv[data-rdv="{rdv["id"]}"][data-statut="EN_ATTENTE"]')
    page.wait("#waitlist-card", state="hidden")
    status, entries = http("GET", f"{practice['url']}/api/liste-attente/", token=paula["access"])
    assert entries == []
    out = short_holds.manage(
        "shell",
        "-c",
        (
            "from attente.models import InscriptionAttente, Retenue; "
            f"i = InscriptionAttente.objects.get(pk={mine['id']}); "
            f"r = Retenue.objects.get(offre=i, creneau_id={slot}); "
            "print('STATE', i.active, i.servie_at is not None, r.active, r.issue)"
        ),
    )
    assert "STATE False True False CONSOMMEE" in out, out
    shot(page, "attente-03-reserve")
    no_errors_but(page, 400)  # the range refused above


# --- phones, tablets and the keyboard ----------------------------------------------------


@pytest.fixture(scope="module")
def own_practice(live):
    return make_practice(live)


@pytest.mark.parametrize("width", [360, 390, 768])
def test_the_week_is_a_list_of_days_and_the_chosen_slot_brings_the_form_into_view(browser, own_practice, width):  # noqa: F811
    practice = own_practice
    doctor = practice["doctors"][1]
    patient = practice["patients"][1]
    day = far_day()
    slots = publish(practice, doctor, day, "08:00", "08:30", "09:00", "09:30", "10:00", "10:30", "11:00")
    page = sign_in(
        browser, f"width-{width}", practice["url"], patient["email"], viewport={"width": width, "height": 800}
    )
    go(page, f"#/rdv?medecin={doctor['id']}&date={day}")
    page.wait(f'.slot[data-creneau="{slots[-1]}"]')
    fits_the_width(page)
    # One column of days; every time shown whole.
    columns = page.eval("getComputedStyle(document.getElementById('week-grid')).gridTemplateColumns")
    assert len(columns.split(" ")) == 1, columns
    cut = page.eval(
        "[...document.querySelectorAll('.slot')].filter(b => b.scrollWidth > b.clientWidth"
        " || b.getBoundingClientRect().right > window.innerWidth).map(b => b.textContent)"
    )
    assert cut == []
    shot(page, f"attente-semaine-{width}px")
    # The last slot of the day, at the bottom: the form comes into view, focused.
    page.click(f'.slot[data-creneau="{slots[-1]}"]')
    page.wait("#hold-countdown")
    page.waitFunction("() => document.activeElement && document.activeElement.id === 'motif'")
    assert in_view(page, "#motif")
    fits_the_width(page)
    shot(page, f"attente-panneau-{width}px")
    page.press("#motif", "Escape")
    assert focused(page)["creneau"] == str(slots[-1])
    # Held again, then the page goes away (a reload): the hold is released as it goes, not
    # left to lapse (5 minutes on this stack).
    page.key("Enter")
    page.wait("#hold-countdown")
    other = practice["patients"][2]
    status, body = http("POST", f"{practice['url']}/api/creneaux/{slots[-1]}/hold/", token=other["access"])
    assert (status, body["code"]) == (409, "creneau_retenu"), body
    page.goto(practice["url"] + "/")
    page.wait('#live[data-live="on"]')
    deadline = time.monotonic() + 5
    while (
        status := http("POST", f"{practice['url']}/api/creneaux/{slots[-1]}/hold/", token=other["access"])[0]
    ) != 201 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status == 201
    assert http("DELETE", f"{practice['url']}/api/creneaux/{slots[-1]}/hold/", token=other["access"])[0] == 204


def test_a_slot_booked_end_to_end_by_keyboard_only_at_390_px(browser, own_practice):  # noqa: F811
    practice = own_practice
    doctor = practice["doctors"][0]
    patient = practice["patients"][0]
    day = far_day()
    (s1,) = publish(practice, doctor, day, "15:30")

    page = sign_in(browser, "keyboard", practice["url"], patient["email"], viewport=PHONE)
    page.wait("#doctor-list [data-medecin]")
    # Find the doctor: the search field, their name, Enter (the first result is chosen).
    tab_to(page, "#f-q")
    page.type(doctor["name"])
    page.key("Enter")
    page.wait(f'#doctor-list [data-medecin="{doctor["id"]}"].active')
    # The week of their first free slot.
    tab_to(page, "#week-first")
    page.key("Enter")
    page.wait(f'.slot[data-creneau="{s1}"]')
    tab_to(page, f'.slot[data-creneau="{s1}"]')
    label = focused(page)["label"]
    # The week is a list of whole-width days, even with one slot in it.
    widths = page.eval(
        "[document.getElementById('week-grid').getBoundingClientRect().width,"
        " document.querySelector('.main-col').clientWidth]"
    )
    assert widths[0] >= widths[1] - 40, widths
    d = date.fromisoformat(day)
    assert label == f"mercredi {d.day} {MONTHS[d.month - 1]} à 15:30"
    fits_the_width(page)
    page.key("Enter")
    page.wait("#hold-countdown")
    page.waitFunction("() => document.activeElement && document.activeElement.id === 'motif'")
    assert in_view(page, "#motif")
    no_serious_axe_violations(page, "booking panel open at 390 px")
    shot(page, "23-patient-creneau-retenu-telephone")
    # Escape: closed, the focus back on the slot; Enter opens it again.
    page.key("Escape")
    page.wait("#booking-panel", state="hidden")
    assert focused(page)["creneau"] == str(s1)
    page.key("Enter")
    page.waitFunction("() => document.activeElement && document.activeElement.id === 'motif'")
    page.type("Pris au clavier")
    page.key("Tab")
    assert focused(page)["id"] == "book-confirm"
    page.key("Enter")
    page.wait('[data-testid="banner-success"]')
    [rdv] = rdv_of(practice, patient)
    assert (rdv["creneau"]["id"], rdv["motif"], rdv["statut"]) == (s1, "Pris au clavier", "EN_ATTENTE")
    no_serious_axe_violations(page, "booked at 390 px")
    fits_the_width(page)
    no_errors_but(page)


def test_a_published_slots_deep_link_followed_logged_out_opens_its_panel_after_the_log_in(browser, own_practice):  # noqa: F811
    """A portal found the slot in /fhir/Slot.ndjson (SMART Scheduling Links) and sends the
    patient to its booking deep link: the log-in screen on the way keeps the route, and the
    panel opens on that very slot, held for them."""
    import urllib.request

    practice = own_practice
    doctor = practice["doctors"][0]
    patient = practice["patients"][0]
    day = (date.today() + timedelta(days=15 + uuid.uuid4().int % 20)).isoformat()
    [slot] = publish(practice, doctor, day, "07:00")
    with urllib.request.urlopen(f"{practice['url']}/fhir/Slot.ndjson", timeout=60) as resp:
        published = [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]
    [fhir_slot] = [s for s in published if s["id"] == str(slot)]
    [link] = [e["valueUrl"] for e in fhir_slot["extension"] if e["url"].endswith("/booking-deep-link")]
    assert link.endswith(f"/#/rdv?medecin={doctor['id']}&date={day}&creneau={slot}"), link

    page = browser.page("deep-link", viewport=PHONE)
    page.goto(link)
    page.wait("#login-form")
    page.fill("#email", patient["email"])
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait("#hold-countdown")
    assert page.eval("location.hash") == f"#/rdv?medecin={doctor['id']}&date={day}&creneau={slot}"
    assert page.eval("document.querySelector('.slot.selected, .slot[aria-pressed=\"true\"]')?.dataset.creneau") == str(
        slot
    ), page.eval("document.querySelector('#booking-panel')?.textContent")
    other = practice["patients"][2]
    status, body = http("POST", f"{practice['url']}/api/creneaux/{slot}/hold/", token=other["access"])
    assert (status, body["code"]) == (409, "creneau_retenu"), body
    # A log-out forgets the route: the next log-in lands on the role's first screen.
    page.press("#motif", "Escape")
    page.click("#menu-toggle")  # on a phone, "Déconnexion" sits in the header's menu
    page.click("#logout")
    page.wait("#login-form")
    page.fill("#email", patient["email"])
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait('#live[data-live="on"]')
    assert page.eval("location.hash") == "#/rdv"
