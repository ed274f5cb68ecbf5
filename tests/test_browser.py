"""The web front in a real browser (Debian's headless Chromium via playwright-core).

Each person gets their own browser context (own localStorage, own socket) against the
session's live daphne. Slots are published here, far in the future, so the demo data
and the other test files never interfere. Screenshots of every screen land in
tests/artifacts/browser/ (and in docs/screenshots/ with SAVE_DOCS_SCREENSHOTS=1).
"""

from __future__ import annotations

import os
import re
import shutil
import time
import urllib.error
import urllib.request
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest

from .browser import Browser, missing
from .live import http, login

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
DOCS = ROOT / "docs" / "screenshots"
CONFLICT = "Ce créneau n'est plus disponible"


@pytest.fixture(scope="module")
def browser():
    reason = missing()
    if reason:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"REQUIRE_SERVICES=1 but the browser tests cannot run: {reason}")
        pytest.skip(f"browser tests need Chromium and playwright-core: {reason}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    b = Browser()
    yield b
    b.close()


def shot(page, name: str) -> None:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(str(path))
    if os.environ.get("SAVE_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / f"{name}.png")


@pytest.fixture(scope="module")
def site(live):
    """The live server, checked to accept a socket from its own pages (same origin)."""
    request = urllib.request.Request(
        f"{live.url}/socket.io/?EIO=4&transport=polling", headers={"Origin": live.url}
    )
    try:
        urllib.request.urlopen(request, timeout=10).read()
    except urllib.error.HTTPError as exc:
        pytest.fail(
            f"the Socket.IO server refuses its own origin {live.url} (HTTP {exc.code}): the page "
            "served at / cannot open a socket unless CORS allows the same origin"
        )
    ids = {}
    for email in ("dr.bernard@demo.fr", "alice@demo.fr", "bob@demo.fr", "chloe@demo.fr"):
        tokens = login(live.url, email)
        status, me = http("GET", f"{live.url}/api/me/", token=tokens["access"])
        assert status == 200, me
        ids[email] = {"id": me["id"], "access": tokens["access"]}
    return {"url": live.url, "users": ids}


@pytest.fixture(scope="module")
def day(site):
    """A far-future weekday with no slot of dr.bernard yet, and our slots on it."""
    token = site["users"]["dr.bernard@demo.fr"]["access"]
    for _ in range(20):
        d = date.today() + timedelta(days=400 + uuid.uuid4().int % 3000)
        d -= timedelta(days=d.weekday() - 2)  # a Wednesday
        slots = {}
        for name, hour in (("s1", "08:00"), ("s2", "08:30"), ("s3", "09:00")):
            end = {"08:00": "08:30", "08:30": "09:00", "09:00": "09:30"}[hour]
            status, body = http("POST", f"{site['url']}/api/creneaux/",
                                {"debut": f"{d}T{hour}:00", "fin": f"{d}T{end}:00"}, token)
            if status != 201:
                break
            slots[name] = body["id"]
        if len(slots) == 3:
            return {"date": d.isoformat(), **slots}
    pytest.fail("could not publish test slots for dr.bernard")


def sign_in(browser, name: str, site, email: str, screenshot: str | None = None):
    page = browser.page(name)
    page.goto(site["url"] + "/")
    page.wait("#login-form")
    if screenshot:
        page.click(f'[data-demo="{email}"]')
        shot(page, screenshot)
    page.fill("#email", email)
    page.fill("#password", "demo1234")
    page.click("#login-form button[type=submit]")
    page.wait('#live[data-live="on"]')
    return page


def go(page, route: str) -> None:
    page.eval(f"window.location.hash = {route!r}")


def no_errors(page) -> None:
    # A refused booking is a 409 the page handles; a polling request aborted by the
    # websocket upgrade is Socket.IO's normal life; anything else is a bug.
    errors = [line for line in page.log()
              if "409" not in line and not (line.startswith("requestfailed") and "/socket.io/" in line)]
    assert not errors, errors


def test_patient_books_doctor_sees_it_live_and_a_racing_patient_gets_the_conflict(browser, site, day):
    bernard = site["users"]["dr.bernard@demo.fr"]["id"]
    s1 = day["s1"]

    doctor = sign_in(browser, "doctor", site, "dr.bernard@demo.fr")
    go(doctor, f"#/agenda?date={day['date']}")
    doctor.wait(f'.agenda-row[data-creneau="{s1}"][data-statut="LIBRE"]')

    alice = sign_in(browser, "alice", site, "alice@demo.fr", screenshot="01-connexion")
    bob = sign_in(browser, "bob", site, "bob@demo.fr")
    for patient in (alice, bob):
        go(patient, f"#/rdv?medecin={bernard}&date={day['date']}")
        patient.wait(f'.slot[data-creneau="{s1}"]')
        patient.eval("window.__sameDocument = true")
    doctor.eval("window.__sameDocument = true")

    # Bob chooses the slot first: it is held for him (countdown), and gone from Alice's week.
    bob.click(f'.slot[data-creneau="{s1}"]')
    bob.wait("#book-confirm")
    assert re.fullmatch(r"Créneau réservé pour vous pendant (5:00|4:[45]\d)", bob.text("#hold-countdown"))
    alice.wait(f'.slot[data-creneau="{s1}"]', state="detached")
    # A booking racing through the API (no hold) is refused while Bob holds it.
    status, body = http("POST", f"{site['url']}/api/rendezvous/", {"creneau": s1, "motif": "course"},
                        token=site["users"]["alice@demo.fr"]["access"])
    assert (status, body["code"]) == (409, "creneau_retenu"), body
    assert body["message"] == "Ce créneau est en cours de réservation par un autre patient"

    # Bob closes the panel: the hold is released and the slot comes back to Alice live.
    bob.click("#book-cancel")
    alice.wait(f'.slot[data-creneau="{s1}"]')
    alice.click(f'.slot[data-creneau="{s1}"]')
    alice.wait("#book-confirm")
    bob.wait(f'.slot[data-creneau="{s1}"]', state="detached")
    alice.fill("#motif", "Vaccin de rappel")
    shot(alice, "02-patient-reserver")
    alice.click("#book-confirm")
    alice.wait('[data-testid="banner-success"]')
    alice.wait(".toast-success")
    assert alice.count(f'.slot[data-creneau="{s1}"]') == 0

    # The doctor's agenda shows the booking without a reload.
    row = f'.agenda-row[data-creneau="{s1}"][data-statut="EN_ATTENTE"]'
    doctor.wait(row)
    assert "Alice" in doctor.text(row)
    assert "Vaccin de rappel" in doctor.text(row)
    assert doctor.eval("window.__sameDocument") is True
    doctor.wait(".toast-info")
    shot(doctor, "05-agenda-jour")

    # Bob's week lost the slot for good; holding it now says it is taken, and no form opens.
    status, body = http("POST", f"{site['url']}/api/creneaux/{s1}/hold/",
                        token=site["users"]["bob@demo.fr"]["access"])
    assert (status, body["code"]) == (409, "creneau_indisponible"), body
    assert bob.count(f'.slot[data-creneau="{s1}"]') == 0
    assert bob.eval("document.getElementById('booking-panel').hidden") is True
    assert bob.eval("window.__sameDocument") is True

    # Alice watches her bookings; the doctor confirms; her card changes state live.
    go(alice, "#/mes-rdv")
    rdv = doctor.eval(f"document.querySelector('{row}').dataset.rdv")
    alice.wait(f'.rdv[data-rdv="{rdv}"][data-statut="EN_ATTENTE"]')
    doctor.click(f'{row} [data-action="confirm"]')
    doctor.wait(f'.agenda-row[data-creneau="{s1}"][data-statut="CONFIRME"]')
    alice.wait(f'.rdv[data-rdv="{rdv}"][data-statut="CONFIRME"]')
    alice.wait(".toast-success")
    alice.wait("#unread-badge:not([hidden])")
    shot(alice, "04-patient-mes-rendez-vous")

    go(doctor, f"#/agenda?vue=semaine&date={day['date']}")
    doctor.wait(f'.agenda-week .cell[data-creneau="{s1}"][data-statut="CONFIRME"]')
    shot(doctor, "06-agenda-semaine")
    for page in (alice, bob, doctor):
        no_errors(page)


def test_two_patients_clicking_at_once_one_wins_one_sees_the_conflict(browser, site, day):
    """Both choose the same slot at once: one holds it (the panel opens), the other is told
    at once that it is being booked (no form); the winner books it; exactly one booking."""
    bernard = site["users"]["dr.bernard@demo.fr"]["id"]
    s2 = day["s2"]
    chloe = sign_in(browser, "chloe", site, "chloe@demo.fr")
    bob = sign_in(browser, "bob2", site, "bob@demo.fr")
    pages = {"chloe": chloe, "bob2": bob}
    for page in pages.values():
        go(page, f"#/rdv?medecin={bernard}&date={day['date']}")
        page.wait(f'.slot[data-creneau="{s2}"]')

    browser.call("clickMany", targets=[{"page": name, "selector": f'.slot[data-creneau="{s2}"]'} for name in pages])

    outcome = {}
    for name, page in pages.items():
        outcome[name] = page.waitFunction(
            "() => document.querySelector('#hold-countdown') ? 'won'"
            " : document.querySelector('[data-testid=banner-error]') ? 'lost' : null"
        )
    assert sorted(outcome.values()) == ["lost", "won"], outcome
    winner = pages[next(n for n, o in outcome.items() if o == "won")]
    loser = pages[next(n for n, o in outcome.items() if o == "lost")]
    assert loser.text('[data-testid="banner-error"]').startswith(
        "Ce créneau est retenu par un autre patient qui est en train de réserver.")
    loser.wait(".toast-error")
    assert loser.count("#book-confirm") == 0  # no form for a held slot
    loser.wait(f'.slot[data-creneau="{s2}"]', state="detached")
    shot(loser, "03-patient-conflit")

    winner.click("#book-confirm")
    winner.wait('[data-testid="banner-success"]')

    # Exactly one booking holds the slot, seen by the doctor's API too.
    token = site["users"]["dr.bernard@demo.fr"]["access"]
    status, body = http("GET", f"{site['url']}/api/rendezvous/?medecin={bernard}&statut=EN_ATTENTE"
                        f"&date_from={day['date']}T00:00:00&date_to={day['date']}T23:59:00", token=token)
    assert status == 200, body
    assert [r["creneau"]["id"] for r in body["results"]].count(s2) == 1
    for page in pages.values():
        no_errors(page)


def test_published_slots_appear_live_and_messages_with_read_receipts(browser, site, day):
    bernard = site["users"]["dr.bernard@demo.fr"]["id"]
    doctor = sign_in(browser, "doctor3", site, "dr.bernard@demo.fr")
    alice = sign_in(browser, "alice3", site, "alice@demo.fr")

    # Alice watches the week; the doctor publishes two slots at 14:00; they appear live.
    go(alice, f"#/rdv?medecin={bernard}&date={day['date']}")
    alice.wait(f'.slot[data-creneau="{day["s3"]}"]')
    go(doctor, "#/creneaux")
    doctor.wait("#publish-form")
    doctor.fill("#pub-date", day["date"])
    doctor.fill("#pub-time", "14:00")
    doctor.fill("#pub-count", "2")
    doctor.click("#pub-submit")
    doctor.wait('[data-testid="published"]')
    shot(doctor, "07-publier-creneaux")
    alice.waitFunction(
        "() => [...document.querySelectorAll('.slot')]"
        ".filter(b => ['14:00', '14:30'].includes(b.textContent)).length === 2"
    )

    # Messages: Alice writes to her doctor; he reads it; she sees the receipt; he replies.
    go(alice, f"#/messages?avec={bernard}")
    alice.wait("#message-input:not([disabled])")
    alice.fill("#message-input", "Bonjour docteur, faut-il venir à jeun ?")
    alice.click("#message-send")
    alice.wait('.msg.mine[data-lu="false"]')
    doctor.wait("#unread-badge:not([hidden])")
    go(doctor, "#/messages")
    doctor.wait(".conv[data-conversation]")
    doctor.click(".conv[data-conversation]")
    doctor.wait(".msg.theirs")
    alice.wait('.msg.mine[data-lu="true"]')
    assert "Lu" in alice.text(".msg.mine .receipt")
    doctor.fill("#message-input", "Non, ce n'est pas nécessaire.")
    doctor.click("#message-send")
    alice.waitFunction(
        "() => [...document.querySelectorAll('.msg.theirs')].some(m => m.textContent.includes('pas nécessaire'))"
    )
    doctor.wait('.msg.mine[data-lu="true"]')  # Alice has the conversation open: read at once
    shot(alice, "08-messages")

    # The notification centre: the badge counts, "mark all read" clears it.
    go(alice, "#/notifications")
    alice.wait(".notif[data-lu='false']")
    assert int(alice.text("#unread-badge")) >= 1
    shot(alice, "09-notifications")
    alice.click("#read-all")
    alice.wait("#unread-badge", state="hidden")
    assert alice.count(".notif[data-lu='false']") == 0

    # The secretary's week agenda for dr.bernard, and a broadcast to the practice.
    secretary = sign_in(browser, "secretary", site, "secretariat@demo.fr")
    go(secretary, f"#/agenda?vue=semaine&date={day['date']}&medecin={bernard}")
    secretary.wait(f'.agenda-week .cell[data-creneau="{day["s1"]}"][data-statut="CONFIRME"]')
    shot(secretary, "10-secretariat-agenda")
    for page in (alice, doctor, secretary):
        no_errors(page)


def csp_violations(page) -> list[str]:
    return [line for line in page.log() if line.startswith("csp:")]


def test_front_admin_and_api_docs_run_under_the_csp_with_no_violation(browser, site):
    """Issue 10: a Content-Security-Policy without 'unsafe-inline' on the front, /admin/, /api/docs/."""
    for path in ("/", "/admin/login/", "/api/docs/", "/static/js/app.js"):
        with urllib.request.urlopen(site["url"] + path, timeout=10) as resp:
            policy = resp.headers["Content-Security-Policy"]
            assert resp.headers["X-Content-Type-Options"] == "nosniff", path
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == directives["style-src"] == "'self'", (path, policy)
        assert "unsafe" not in policy, policy

    # The front, with its live socket, on three screens.
    page = sign_in(browser, "csp", site, "alice@demo.fr")
    for route in ("#/rdv", "#/mes-rdv", "#/messages", "#/notifications"):
        go(page, route)
        page.wait("main")

    # The API docs: Swagger UI renders the schema.
    page.goto(site["url"] + "/api/docs/")
    page.wait(".swagger-ui .information-container .title")
    page.wait(".opblock-tag-section")
    shot(page, "api-docs")

    # The admin: login form, index, a list with its actions, forms with date widgets.
    page.goto(site["url"] + "/admin/login/?next=/admin/")
    page.fill("#id_username", "admin@demo.fr")
    page.fill("#id_password", "demo1234")
    page.click("input[type=submit]")
    page.wait("#content-main .app-rendezvous")
    for path in ("/admin/rendezvous/rendezvous/", "/admin/rendezvous/creneau/add/",
                 "/admin/rendezvous/user/add/", "/admin/realtime/"):
        page.goto(site["url"] + path)
        page.wait("#content")
    page.goto(site["url"] + "/admin/rendezvous/creneau/add/")
    page.wait(".datetimeshortcuts")  # the admin's JavaScript ran (calendar shortcuts added)
    assert csp_violations(page) == [], csp_violations(page)

    # The check can fail: an inline script injected now is blocked and reported.
    page.eval("(() => { const s = document.createElement('script'); s.textContent = 'window.y = 1';"
              " document.body.append(s); })()")
    assert page.eval("window.y === undefined") is True
    deadline = time.monotonic() + 5  # the violation event is dispatched as a task of its own
    while not csp_violations(page) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("script-src" in line for line in csp_violations(page)), page.log()
