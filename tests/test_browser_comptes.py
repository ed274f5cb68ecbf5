"""Account screens and French dates in a real browser (issue 14, items 3-4).

Sign-up (a field error from the API, then success; an address already taken; the e-mail
of a record a practice made on the phone: 202 and "check your e-mail"), the profile
(a bad phone number then a good one, the password changed with a wrong then the right
current password, "log out everywhere" closing another device's page), the 429 of the
brute-force protection on the login, sign-up and reset screens, and dates in French on
the practice's wall clock in a browser set to en-US / America/New_York. Every screen is
checked with axe-core at 390 px (no serious or critical violation).

Each test signs up its own patient, so none changes a demo account another test uses.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from .browser import sign_in as browser_sign_in
from .conftest import has_postgres
from .helpers import MOIS
from .live import http, login, start_stack
from .test_browser import ARTIFACTS, browser, go, shot  # noqa: F401  (browser: a fixture)
from .test_browser_practice import fits_the_width, no_errors_but, no_serious_axe_violations

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PHONE = {"width": 390, "height": 844}
US = {"locale": "en-US", "timezoneId": "America/New_York"}
PASSWORD = "Un-mot-de-passe-solide-1"
JOURS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
CLAIM = "Un e-mail vous a été envoyé pour rattacher votre dossier."


def french(d: date, hhmm: str) -> str:
    """What Intl.DateTimeFormat('fr-FR') writes: "lundi 7 décembre 2026 à 09:30"."""
    return f"{JOURS[d.weekday()]} {d.day} {MOIS[d.month - 1]} {d.year} à {hhmm}"


def email(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@comptes.test"


def register(url: str, prefix: str, **extra) -> dict:
    """A new patient through the API; {email, id, access}."""
    address = email(prefix)
    status, body = http("POST", f"{url}/api/auth/register/", {"email": address, "password": PASSWORD, **extra})
    assert status == 201, body
    return {"email": address, "id": body["id"], "access": login(url, address, PASSWORD)["access"]}


def me(url: str, token: str) -> dict:
    status, body = http("GET", f"{url}/api/me/", token=token)
    assert status == 200, body
    return body


def open_page(browser, name: str, url: str, path: str = "/", **options):  # noqa: F811
    page = browser.page(name, viewport=PHONE, **options)
    page.goto(url + path)
    return page


def sign_in(browser, name: str, url: str, address: str, password: str = PASSWORD, **options):  # noqa: F811
    return browser_sign_in(browser, name, url, address, password, viewport=PHONE, **options)


def checked(page, where: str) -> None:
    """At 390 px: nothing wider than the screen, no serious axe-core violation, a screenshot."""
    fits_the_width(page)
    no_serious_axe_violations(page, where)
    shot(page, f"comptes-{where}")


def field_error(page, field_id: str) -> str:
    page.wait(f"#{field_id}-error")
    assert page.eval(f"document.getElementById('{field_id}').getAttribute('aria-invalid')") == "true"
    described = page.eval(f"document.getElementById('{field_id}').getAttribute('aria-describedby')")
    assert f"{field_id}-error" in described.split(), described
    return page.text(f"#{field_id}-error")


def test_sign_up_shows_the_apis_field_errors_then_logs_in(browser, live):  # noqa: F811
    url = live.url
    page = open_page(browser, "signup", url, "/login")
    page.wait("#login-form")
    assert page.text("#forgot").startswith("Mot de passe oublié")
    page.click("#to-signup")
    page.wait("#signup-form")
    assert page.eval("location.hash") == "#/inscription"
    checked(page, "inscription")
    # The browser's Back returns to the login screen; the link leads here again.
    page.eval("history.back()")
    page.wait("#login-form")
    page.click("#to-signup")
    page.wait("#signup-form")

    # Both passwords must agree (checked here, nothing sent).
    address = email("nina")
    page.fill("#su-first-name", "Nina")
    page.fill("#su-last-name", "Roux")
    page.fill("#su-email", address)
    page.fill("#su-password", PASSWORD)
    page.fill("#su-password-2", PASSWORD + "x")
    page.click("#signup-submit")
    assert field_error(page, "su-password-2") == "Les deux mots de passe ne sont pas identiques."

    # A phone number the API refuses: its French message under the field, nobody created.
    page.fill("#su-password-2", PASSWORD)
    page.fill("#su-telephone", "12")
    page.click("#signup-submit")
    assert field_error(page, "su-telephone") == "Numéro invalide : ce numéro n'existe pas."
    assert page.eval("document.getElementById('su-password-2').hasAttribute('aria-invalid')") is False
    assert page.text("#signup-error").startswith("Numéro de téléphone invalide")
    assert page.eval("document.activeElement.id") == "su-telephone"
    status, _ = http("POST", f"{url}/api/auth/token/", {"email": address, "password": PASSWORD})
    assert status == 401
    checked(page, "inscription-erreur")

    # An address that already has an account.
    page.fill("#su-telephone", "06 12 34 56 78")
    page.fill("#su-email", "alice@demo.fr")
    page.click("#signup-submit")
    page.wait("#su-email-error")
    assert page.text("#su-email-error") == "Un compte existe déjà avec cette adresse e-mail"

    # Fixed: the account is made and this browser is logged in.
    page.fill("#su-email", address)
    page.click("#signup-submit")
    page.wait('#live[data-live="on"]')
    assert page.text("#who-name") == "Nina Roux"
    assert page.eval("location.hash") == "#/rdv"
    tokens = login(url, address, PASSWORD)
    profile = me(url, tokens["access"])
    assert (profile["role"], profile["telephone"]) == ("PATIENT", "+33612345678")
    no_errors_but(page, 400)


def test_sign_up_with_a_phone_booked_records_email_says_to_check_the_email(browser, live):  # noqa: F811
    url = live.url
    secretary = login(url, "secretariat@demo.fr")["access"]
    address = email("appel")
    status, record = http(
        "POST",
        f"{url}/api/patients/",
        {"first_name": "Paul", "last_name": "Appel", "telephone": "06 11 22 33 44", "email": address},
        secretary,
    )
    assert status == 201, record

    page = open_page(browser, "signup-claim", url, "/#/inscription")
    page.wait("#signup-form")
    # Names are required here (the practice calls its patients by them).
    page.click("#signup-submit")
    assert field_error(page, "su-first-name") == "Ce champ est obligatoire."
    assert field_error(page, "su-last-name") == "Ce champ est obligatoire."
    assert page.eval("document.activeElement.id") == "su-first-name"
    page.fill("#su-first-name", "Paul")
    page.fill("#su-last-name", "Appel")
    page.fill("#su-email", address)
    page.fill("#su-password", PASSWORD)
    page.fill("#su-password-2", PASSWORD)
    page.click("#signup-submit")
    page.wait("#signup-claim-message")
    assert page.text("#signup-claim-message") == CLAIM
    assert address in page.text("#signup-claim")
    assert page.count("#signup-form") == 0
    # Nobody is logged in, and the record is not taken over by whoever typed the address.
    assert page.eval("localStorage.getItem('jwt-token')") is None
    status, _ = http("POST", f"{url}/api/auth/token/", {"email": address, "password": PASSWORD})
    assert status == 401
    checked(page, "inscription-dossier")
    no_errors_but(page)


def test_profile_refuses_a_bad_phone_then_saves_a_good_one(browser, live):  # noqa: F811
    url = live.url
    user = register(url, "profil", first_name="Léa", last_name="Morel")
    page = sign_in(browser, "profile", url, user["email"])
    go(page, "#/profil")
    page.wait("#profile-form")
    assert page.eval("document.getElementById('pf-email').readOnly") is True
    assert page.eval("document.getElementById('pf-email').value") == user["email"]
    checked(page, "profil")

    page.fill("#pf-first-name", "Léa-Marie")
    page.fill("#pf-telephone", "12345")
    page.click("#profile-submit")
    assert field_error(page, "pf-telephone") == "Numéro invalide : ce numéro n'existe pas."
    assert page.text("#profile-error").startswith("Numéro de téléphone invalide")
    profile = me(url, user["access"])
    assert (profile["first_name"], profile["telephone"]) == ("Léa", "")  # nothing changed
    checked(page, "profil-erreur")

    page.fill("#pf-telephone", "06 98 76 54 32")
    page.click("#profile-submit")
    page.wait("#profile-saved")
    assert page.eval("document.getElementById('pf-telephone').hasAttribute('aria-invalid')") is False
    assert page.eval("document.getElementById('pf-telephone').value") == "+33698765432"
    assert page.text("#who-name") == "Léa-Marie Morel"
    profile = me(url, user["access"])
    assert (profile["first_name"], profile["telephone"]) == ("Léa-Marie", "+33698765432")
    no_errors_but(page, 400)


def test_password_change_wrong_then_right_current_password(browser, live):  # noqa: F811
    url = live.url
    user = register(url, "motdepasse")
    page = sign_in(browser, "password", url, user["email"])
    go(page, "#/profil")
    page.wait("#password-form")
    new = "Encore-un-autre-secret-2"

    page.fill("#pw-current", "pas-le-bon-mot")
    page.fill("#pw-new", new)
    page.fill("#pw-new-2", new)
    page.click("#password-submit")
    assert field_error(page, "pw-current") == "Mot de passe actuel incorrect."
    assert page.text("#password-error") == "Mot de passe actuel incorrect"
    assert page.eval("document.activeElement.id") == "pw-current"
    checked(page, "mot-de-passe-erreur")
    assert http("POST", f"{url}/api/auth/token/", {"email": user["email"], "password": PASSWORD})[0] == 200

    # The right one, but a new password the validators refuse: their words under the field.
    page.fill("#pw-current", PASSWORD)
    page.fill("#pw-new", "12345678")
    page.fill("#pw-new-2", "12345678")
    page.click("#password-submit")
    page.wait("#pw-new-error")
    assert "entièrement numérique" in field_error(page, "pw-new"), page.text("#pw-new-error")
    assert page.eval("document.getElementById('pw-current').hasAttribute('aria-invalid')") is False

    page.fill("#pw-new", new)
    page.fill("#pw-new-2", new)
    page.click("#password-submit")
    page.wait("#password-changed")
    assert "mot de passe a été modifié" in page.text("#password-changed")
    assert page.eval("document.getElementById('pw-current').value") == ""
    # This device stays logged in on its new session: the socket comes back, the API answers.
    page.wait('#live[data-live="on"]')
    go(page, "#/notifications")
    page.wait("#notif-list")
    page.wait("#notif-list .muted, #notif-list .notif")
    assert page.eval("document.body.dataset.screen") == "notifications"
    assert http("POST", f"{url}/api/auth/token/", {"email": user["email"], "password": PASSWORD})[0] == 401
    assert http("POST", f"{url}/api/auth/token/", {"email": user["email"], "password": new})[0] == 200
    no_errors_but(page, 400)


def test_log_out_everywhere_sends_another_devices_page_back_to_login(browser, live):  # noqa: F811
    url = live.url
    user = register(url, "partout")
    here = sign_in(browser, "everywhere-1", url, user["email"])
    there = sign_in(browser, "everywhere-2", url, user["email"])  # another device: its own storage
    there.eval("window.__sameDocument = true")

    go(here, "#/profil")
    here.wait("#logout-all")
    here.click("#logout-all")
    here.wait("#login-form")
    assert here.text("#login-info") == "Vous êtes déconnecté de tous vos appareils."
    assert here.eval("localStorage.getItem('jwt-token')") is None

    # The other device's socket is closed by the server; its page returns to the login.
    there.wait("#login-form", timeout=20000)
    assert there.eval("window.__sameDocument") is True  # live, not on a reload
    assert there.eval("localStorage.getItem('jwt-token')") is None
    assert http("GET", f"{url}/api/me/", token=user["access"])[0] == 401
    checked(there, "deconnecte-partout")


def far_slot(url: str, token: str, hour: str = "09:30") -> tuple[date, dict]:
    """A slot of the doctor at `hour` (Paris) on a far day with none there yet."""
    hh, mm = map(int, hour.split(":"))
    end = f"{hh + (mm + 30) // 60:02d}:{(mm + 30) % 60:02d}"
    for _ in range(20):
        d = date.today() + timedelta(days=700 + uuid.uuid4().int % 3000)
        status, slot = http("POST", f"{url}/api/creneaux/", {"debut": f"{d}T{hour}:00", "fin": f"{d}T{end}:00"}, token)
        if status == 201:
            return d, slot
    pytest.fail("could not publish a slot")


def test_a_us_browser_shows_french_dates_on_the_practices_clock(browser, live):  # noqa: F811
    url = live.url
    doctor = login(url, "dr.martin@demo.fr")["access"]
    day, slot = far_slot(url, doctor)
    assert slot["timezone"] == "Europe/Paris" and slot["debut"].startswith(f"{day}T09:30:00+0")
    user = register(url, "newyork", first_name="Emma", last_name="Stone")
    status, rdv = http("POST", f"{url}/api/rendezvous/", {"creneau": slot["id"], "motif": "Bilan"}, user["access"])
    assert status == 201, rdv
    when = french(day, "09:30")  # 03:30 or 04:30 in New York: the page must not show those

    page = sign_in(browser, "us-patient", url, user["email"], **US)
    # The browser really is American: its own formatting is US English.
    assert page.eval("new Intl.DateTimeFormat().resolvedOptions().timeZone") == "America/New_York"
    assert page.eval("navigator.language") == "en-US"

    # The booking confirmed while the page is open: the toast names doctor, day and time.
    status, body = http("POST", f"{url}/api/rendezvous/{rdv['id']}/confirm/", {}, doctor)
    assert status == 200, body
    detailed = f"Rendez-vous confirmé avec Dr Jean Martin le {when}"
    page.wait(".toast-success")
    page.waitFunction(
        "(text) => [...document.querySelectorAll('.toast-success .toast-message')].some((e) => e.textContent === text)",
        arg=detailed,
    )
    checked(page, "us-toast")

    # My bookings: the slot in French, 09:30 Paris time.
    go(page, "#/mes-rdv")
    card = f'.rdv[data-rdv="{rdv["id"]}"]'
    page.wait(card)
    assert page.text(f"{card} .rdv-when strong") == when[0].upper() + when[1:]
    note = page.text(f'{card} [data-testid="annulable"]')
    assert "à 09:30" in note or "à 0" in note, note  # the deadline, on the practice's clock too
    assert " AM" not in page.text(card) and "/" not in page.text(f"{card} .rdv-when")
    checked(page, "us-mes-rendez-vous")

    # The notification centre (REST rows): the same words.
    go(page, "#/notifications")
    row = "#notif-list .notif .notif-text"
    page.wait(row)
    texts = page.eval("[...document.querySelectorAll('#notif-list .notif-text')].map((e) => e.textContent)")
    assert detailed in texts, texts
    assert f"Rendez-vous demandé avec Dr Jean Martin le {when}, en attente de confirmation" in texts, texts
    checked(page, "us-notifications")

    # The doctor's agenda, also in a US browser: the day in French, the practice's hours.
    agenda = sign_in(browser, "us-doctor", url, "dr.martin@demo.fr", "demo1234", **US)
    go(agenda, f"#/agenda?date={day}")
    agenda.wait(f'.agenda-row[data-creneau="{slot["id"]}"]')
    assert agenda.text("#agenda-label") == f"{JOURS[day.weekday()]} {day.day} {MOIS[day.month - 1]} {day.year}"
    assert agenda.text(f'.agenda-row[data-creneau="{slot["id"]}"] .agenda-time') == "09:30 – 10:00"
    checked(agenda, "us-agenda")
    # The doctor's notification centre names the patient and the day.
    go(agenda, "#/notifications")
    agenda.wait("#notif-list .notif-text")
    texts = agenda.eval("[...document.querySelectorAll('#notif-list .notif-text')].map((e) => e.textContent)")
    assert f"Nouveau rendez-vous en attente de confirmation : Emma Stone le {when}" in texts, texts
    for p in (page, agenda):
        no_errors_but(p)


# --- brute-force protection: a stack of its own with tight limits


@pytest.fixture(scope="module")
def throttled_site(tmp_path_factory):
    stack = start_stack(
        tmp_path_factory.mktemp("throttled"),
        postgres=has_postgres(),
        extra_env={
            "THROTTLE_LOGIN_EMAIL": "2/hour",
            "THROTTLE_REGISTER": "1/hour",
            "THROTTLE_PASSWORD_RESET_EMAIL": "1/hour",
        },
    )
    yield stack
    stack.close()


def test_the_429_of_login_sign_up_and_reset_reads_in_french(browser, throttled_site):  # noqa: F811
    url = throttled_site.url
    page = open_page(browser, "throttled", url, "/login")
    page.wait("#login-form")
    answers = []
    for attempt in range(3):
        page.eval("document.getElementById('login-error').textContent = ''")
        page.fill("#email", "bob@demo.fr")
        page.fill("#password", f"faux-{attempt}")
        page.click("#login-form button[type=submit]")
        page.waitFunction("() => document.getElementById('login-error').textContent !== ''")
        answers.append(page.text("#login-error"))
    assert not any(a.startswith("Trop de tentatives") for a in answers[:2]), answers
    assert answers[2] == "Trop de tentatives. Réessayez dans 1 heure.", answers
    checked(page, "trop-de-tentatives-connexion")

    # The reset request: one a hour for an address here.
    page.click("#forgot")
    page.wait("#reset-form")
    page.fill("#reset-email", "chloe@demo.fr")
    page.click("#reset-submit")
    page.wait("#reset-sent")
    page.click("#reset-submit")
    page.wait("#reset-refused")
    assert page.text("#reset-refused").startswith("Trop de tentatives. Réessayez dans "), page.text("#reset-refused")

    # Sign-up: one an hour from this address.
    page.click("#to-signup")
    page.wait("#signup-form")
    for n in range(2):
        page.fill("#su-first-name", "Zoé")
        page.fill("#su-last-name", f"Limite{n}")
        page.fill("#su-email", email(f"limite{n}"))
        page.fill("#su-password", PASSWORD)
        page.fill("#su-password-2", PASSWORD)
        page.click("#signup-submit")
        if n == 0:
            page.wait('#live[data-live="on"]')
            # On a phone, "Déconnexion" sits in the header's menu.
            if page.eval("getComputedStyle(document.querySelector('#menu-toggle')).display") != "none":
                page.click("#menu-toggle")
            page.click("#logout")
            page.wait("#login-form")
            page.click("#to-signup")
            page.wait("#signup-form")
    page.wait("#signup-error")
    assert page.text("#signup-error").startswith("Trop de tentatives. Réessayez dans "), page.text("#signup-error")
    checked(page, "trop-de-tentatives-inscription")
    # Chromium logs a 205 Reset Content (POST /api/auth/logout/'s answer) as an aborted
    # request, though fetch resolves with it: not an error of the page.
    errors = [
        line
        for line in page.log()
        if not line.endswith("/api/auth/logout/ net::ERR_ABORTED")
        and not any(f"status of {code} " in line for code in (401, 429))
        and not (line.startswith("requestfailed") and "/socket.io/" in line)
    ]
    assert not errors, errors
