"""Phones, tablets and accessibility (issue 14, items 1-2) in a real browser.

Every screen of every role, and the states that add something to the page (a phone menu
open, a toast shown, an inline form or side panel open, a login error), at 360, 390 and
768 px wide: nothing is wider than the window (`scrollWidth <= innerWidth`), one <h1>,
no serious or critical axe-core violation; a screenshot of each lands in
tests/artifacts/browser/a11y/ (gitignored). Then the keyboard: the skip link is the first
Tab stop and focuses <main>, a route change focuses the screen's <h1>, the phone menu is a
disclosure button closed by Escape, the unread counts are in the controls' accessible
names and announced, an inline form closes on Escape with focus back on its button.

The booking panel of the patient's "Prendre rendez-vous" screen is checked here as a
screen (fits, axe) but its own keyboard behaviour is tested in test_browser.py.
"""

from __future__ import annotations

import json
import uuid

import pytest

from .browser import sign_in as browser_sign_in
from .live import http
from .test_browser import ARTIFACTS, browser, go  # noqa: F401  (browser: a fixture)
from .test_browser_practice import far_day, no_errors_but, practice, publish  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

WIDTHS = (360, 390, 768)
# WCAG 2.0, 2.1 and 2.2 A/AA rules (2.2 adds the 24 px target size) and axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
SHOTS = ARTIFACTS / "a11y"


def open_page(browser, name: str, url: str, width: int):  # noqa: F811
    page = browser.page(name, viewport={"width": width, "height": 800})
    page.goto(url + "/")
    page.wait("#login-form")
    return page


def sign_in(browser, name: str, url: str, email: str, width: int):  # noqa: F811
    return browser_sign_in(browser, name, url, email, viewport={"width": width, "height": 800})


def settle(page) -> None:
    """The screen's fetches have landed (no busy region) and animations are over."""
    page.waitFunction("() => !document.querySelector('[aria-busy=true]')")
    page.eval("new Promise(r => setTimeout(r, 300))")


def check(page, problems: list[str], label: str) -> None:
    """Fits the width, one <h1>, no serious/critical axe violation; saves a screenshot."""
    width = page.eval("[document.documentElement.scrollWidth, window.innerWidth]")
    if width[0] > width[1]:
        wide = page.eval(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
            " > window.innerWidth + 1).slice(-4).map(e => `${e.tagName}.${e.className}#${e.id}`)"
        )
        problems.append(f"{label}: {width[0]} px wide in a {width[1]} px window: {wide}")
    h1 = page.eval("[...document.querySelectorAll('h1')].map(e => e.textContent)")
    if len(h1) != 1 or not h1[0].strip():
        problems.append(f"{label}: {len(h1)} <h1> ({h1})")
    for v in page.axe(tags=AXE_TAGS):
        if v["impact"] in ("serious", "critical"):
            problems.append(f"{label}: axe {v['id']} ({v['impact']}): {json.dumps(v['nodes'][:2], ensure_ascii=False)}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(str(SHOTS / f"{label.replace(' ', '-').replace('/', '_')}.png"))


def menu_open_and_closed(page, problems: list[str], label: str) -> None:
    """Below 820 px the navigation folds under the "Menu" disclosure button."""
    if page.eval("getComputedStyle(document.querySelector('#menu-toggle')).display") == "none":
        problems.append(f"{label}: no Menu button at {page.eval('innerWidth')} px")
        return
    assert page.eval("getComputedStyle(document.querySelector('#main-nav')).display") == "none", label
    page.click("#menu-toggle")
    assert page.eval("document.querySelector('#menu-toggle').getAttribute('aria-expanded')") == "true"
    page.wait("#main-nav .tab")
    page.wait("#logout")
    check(page, problems, f"{label}-menu")
    page.press("#menu-toggle", "Escape")
    assert page.eval("document.querySelector('#menu-toggle').getAttribute('aria-expanded')") == "false"
    assert page.eval("document.activeElement.id") == "menu-toggle"
    page.wait("#main-nav", state="hidden")


def wait_toast(page, kind: str | None = None) -> None:
    page.wait(f".toast-{kind}" if kind else ".toast")
    page.eval("new Promise(r => setTimeout(r, 300))")


def show_every_toast_type(page) -> None:
    """The four colours, through the app's own toast() (same module instance as the app's)."""
    page.eval(
        "import('/static/js/ui.js').then(ui => { for (const t of ['success', 'info', 'warning', 'error'])"
        " ui.toast(`Essai d'affichage (${t})`, t, { timeout: 60000 }); })"
    )
    page.wait(".toast-error")


def clear_toasts(page) -> None:
    page.eval("document.querySelectorAll('.toast').forEach(t => t.remove())")


def publish_on_an_empty_day(practice, doctor: dict, *hours: str) -> tuple[str, list[int]]:  # noqa: F811
    """Slots for `doctor` on a far-future Tuesday where he has none yet (far_day() draws
    among a few hundred Tuesdays, which other tests of the practice also use)."""
    for attempt in range(20):
        day = far_day(40 + attempt)
        status, body = http(
            "GET",
            f"{practice['url']}/api/creneaux/?medecin={doctor['id']}&date_from={day}T00:00:00&date_to={day}T23:59:00",
            token=doctor["access"],
        )
        assert status == 200, body
        if not body["results"]:
            return day, publish(practice, doctor, day, *hours)
    pytest.fail(f"no empty far-future day for {doctor['email']}")


@pytest.fixture(scope="module")
def scene(practice):  # noqa: F811
    """Dr Roux's far-future day: Alice's pending booking, her confirmed one, a cancelled
    one (so "En attente", "Confirmé" and "Annulé" badges are on screen), a free slot."""
    roux = practice["doctors"][0]
    alice = practice["alice@demo.fr"]
    day, (pending, confirmed, cancelled, free) = publish_on_an_empty_day(
        practice, roux, "08:00", "08:30", "09:00", "09:30"
    )
    ids = {}
    for name, slot in (("pending", pending), ("confirmed", confirmed), ("cancelled", cancelled)):
        status, rdv = http(
            "POST", f"{practice['url']}/api/rendezvous/", {"creneau": slot, "motif": "Contrôle"}, alice["access"]
        )
        assert status == 201, rdv
        ids[name] = rdv["id"]
    status, body = http("POST", f"{practice['url']}/api/rendezvous/{ids['confirmed']}/confirm/", {}, roux["access"])
    assert status == 200, body
    status, body = http(
        "POST",
        f"{practice['url']}/api/rendezvous/{ids['cancelled']}/cancel/",
        {"motif": "Empêchement"},
        alice["access"],
    )
    assert status == 200, body
    return {"day": day, "free": free, "roux": roux, "alice": alice, **ids}


def book_live(practice, scene) -> int:  # noqa: F811
    """A new booking of Alice's on a new slot of Dr Roux: real toasts on every open page."""
    _, (slot,) = publish_on_an_empty_day(practice, scene["roux"], "10:00")
    status, rdv = http("POST", f"{practice['url']}/api/rendezvous/", {"creneau": slot}, scene["alice"]["access"])
    assert status == 201, rdv
    return rdv["id"]


@pytest.mark.parametrize("width", WIDTHS)
def test_logged_out_screens_fit_and_pass_axe(browser, practice, width):  # noqa: F811
    problems: list[str] = []
    page = open_page(browser, f"out-{width}", practice["url"], width)
    check(page, problems, f"{width}-connexion")
    page.fill("#email", "personne@exemple.fr")
    page.fill("#password", "pas-le-bon")
    page.press("#password", "Enter")
    page.wait("#login-error:not([hidden])")
    check(page, problems, f"{width}-connexion-erreur")
    page.click("#forgot")
    page.wait("#reset-form")
    check(page, problems, f"{width}-mot-de-passe-oublie")
    page.click("#to-signup")
    page.wait("#signup-form")
    check(page, problems, f"{width}-inscription")
    assert not problems, "\n".join(problems)
    no_errors_but(page, 400, 401)


@pytest.mark.parametrize("role", ["patient", "medecin", "secretariat"])
def test_every_screen_and_state_fits_and_passes_axe(browser, practice, scene, role):  # noqa: F811
    email = {"patient": "alice@demo.fr", "medecin": scene["roux"]["email"], "secretariat": practice["secretary"]}[role]
    day = scene["day"]
    roux = scene["roux"]["id"]
    # Where each route shows something: the test day, the test doctor.
    where = {
        "rdv": f"#/rdv?medecin={roux}&date={day}",
        "agenda": f"#/agenda?date={day}",
        "journee": f"#/journee?date={day}",
    }
    problems: list[str] = []
    for width in WIDTHS:
        page = sign_in(browser, f"{role}-{width}", practice["url"], email, width)
        routes = page.eval("[...document.querySelectorAll('.tab')].map(a => [a.dataset.route, a.textContent])")
        assert len(routes) >= 5, routes
        for route, _ in routes:
            go(page, where.get(route, f"#/{route}"))
            page.waitFunction(f"() => document.body.dataset.screen === {route!r}")
            if role == "secretariat" and route == "agenda":
                page.wait("#medecin-select")
                page.eval(
                    f"(() => {{ const s = document.querySelector('#medecin-select'); s.value = '{roux}';"
                    " s.dispatchEvent(new Event('change')); })()"
                )
                page.wait(f'.agenda-row[data-rdv="{scene["pending"]}"]')
            settle(page)
            check(page, problems, f"{width}-{role}-{route}")

        # States: the phone menu, a live toast and the four toast colours, open forms/panels.
        menu_open_and_closed(page, problems, f"{width}-{role}")
        if role == "patient":
            go(page, "#/mes-rdv")
            card = f'.rdv[data-rdv="{scene["pending"]}"]'
            page.wait(f'{card} [data-action="cancel"]')
            page.wait(f'.rdv[data-rdv="{scene["cancelled"]}"] .badge[data-statut="ANNULE"]')
            page.click(f'{card} [data-action="cancel"]')
            page.wait(f'{card} input[name="motif"]')
            check(page, problems, f"{width}-{role}-annulation-ouverte")
            page.press(f'{card} input[name="motif"]', "Escape")
            page.click(f'{card} [data-action="move"]')
            page.wait(f"{card} .move-box:not([hidden])")
            settle(page)
            check(page, problems, f"{width}-{role}-deplacement-ouvert")
        elif role == "medecin":
            go(page, f"#/agenda?date={day}&vue=semaine")
            page.waitFunction("() => document.querySelector('#mode-week.active')")
            settle(page)
            check(page, problems, f"{width}-{role}-agenda-semaine")
            go(page, f"#/agenda?date={day}")
            row = f'.agenda-row[data-rdv="{scene["pending"]}"]'
            page.wait(f'{row} .badge[data-statut="EN_ATTENTE"]')
            page.click(f'{row} [data-action="cancel"]')
            page.wait(f'{row} input[name="motif"]')
            check(page, problems, f"{width}-{role}-annulation-ouverte")
            page.press(f'{row} input[name="motif"]', "Escape")
        else:
            go(page, f"#/journee?date={day}")
            page.wait(f'.jcell[data-creneau="{scene["free"]}"] [data-action="book"]')
            page.click(f'.jcell[data-creneau="{scene["free"]}"] [data-action="book"]')
            page.wait("#journee-panel:not([hidden]) #patient-q")
            # Scrolled into view below the sticky header, not under it (focus not obscured).
            page.eval("new Promise(r => setTimeout(r, 300))")
            tops = page.eval(
                "[document.querySelector('#journee-panel').getBoundingClientRect().top,"
                " document.querySelector('.topbar').getBoundingClientRect().bottom]"
            )
            if tops[0] < tops[1]:
                problems.append(f"{width}-{role}: the panel's top ({tops[0]}) is under the header ({tops[1]})")
            check(page, problems, f"{width}-{role}-panneau-reservation")
            page.press("#patient-q", "Escape")
            page.wait("#journee-panel", state="hidden")
        book_live(practice, scene)
        wait_toast(page)
        check(page, problems, f"{width}-{role}-toast")
        clear_toasts(page)
        show_every_toast_type(page)
        check(page, problems, f"{width}-{role}-toasts-4-couleurs")
        clear_toasts(page)
        no_errors_but(page)
    assert not problems, "\n".join(problems)


# --- the keyboard


def active(page) -> str:
    return page.eval(
        "(() => { const e = document.activeElement; return e === document.body ? 'BODY' : `${e.tagName}#${e.id}`; })()"
    )


@pytest.mark.parametrize("width", [1200, 390])
def test_skip_link_first_tab_stop_and_route_change_focuses_the_h1(browser, practice, width):  # noqa: F811
    page = sign_in(browser, f"kbd-{width}", practice["url"], "alice@demo.fr", width)
    # After signing in, focus is on the first screen's title.
    page.waitFunction("() => document.activeElement && document.activeElement.id === 'page-title'")
    assert page.text("#page-title") == page.text(".tab.active").strip()

    # A page load: the skip link is the first Tab stop, shown when focused, and leads to <main>.
    page.goto(practice["url"] + "/?recharge=1#/mes-rdv")  # a real load (not a same-document hash change)
    page.waitFunction("() => document.body.dataset.screen === 'mes-rdv'")
    assert active(page) == "BODY"
    page.press("body", "Tab")
    assert active(page) == "A#skip-link"
    assert page.text("#skip-link") == "Aller au contenu"
    box = page.eval(
        "(() => { const r = document.activeElement.getBoundingClientRect(); return [r.top, r.bottom, r.width]; })()"
    )
    assert box[0] >= 0 and box[2] > 0, f"the focused skip link is off-screen: {box}"
    page.wait("#contenu .rdv, #contenu a[href]")  # the screen has something to Tab to
    page.press("#skip-link", "Enter")
    assert active(page) == "MAIN#contenu"
    assert page.eval("location.hash") == "#/mes-rdv"  # the router's hash is untouched
    page.press("#contenu", "Tab")
    assert page.eval("document.querySelector('#contenu').contains(document.activeElement)")

    # A route change by keyboard: focus on the new screen's one <h1>, named after the tab.
    if width > 820:
        page.eval("document.querySelector('.tab[data-route=\"notifications\"]').focus()")
        page.press('.tab[data-route="notifications"]', "Enter")
    else:
        # The phone menu: a disclosure button; Escape closes it, focus back on the button.
        page.eval("document.querySelector('#menu-toggle').focus()")
        assert page.eval("document.querySelector('#menu-toggle').getAttribute('aria-expanded')") == "false"
        page.press("#menu-toggle", "Enter")
        assert page.eval("document.querySelector('#menu-toggle').getAttribute('aria-expanded')") == "true"
        assert page.eval("document.activeElement.classList.contains('tab')")
        page.press("#main-nav", "Escape")
        assert active(page) == "BUTTON#menu-toggle"
        assert page.eval("document.querySelector('#menu-toggle').getAttribute('aria-expanded')") == "false"
        # A click outside folds it too; the current screen's own tab folds it and re-opens
        # the screen (focus on its title) instead of doing nothing.
        page.press("#menu-toggle", "Enter")
        page.eval("document.querySelector('#view').click()")
        assert page.eval("document.querySelector('#menu-toggle').getAttribute('aria-expanded')") == "false"
        page.press("#menu-toggle", "Enter")
        page.click('.tab[data-route="mes-rdv"]')
        page.waitFunction("() => document.activeElement && document.activeElement.id === 'page-title'")
        assert page.eval("document.querySelector('#menu-toggle').getAttribute('aria-expanded')") == "false"
        assert page.eval("location.hash") == "#/mes-rdv"
        page.press("#menu-toggle", "Enter")
        page.eval("document.querySelector('.tab[data-route=\"notifications\"]').focus()")
        page.press('.tab[data-route="notifications"]', "Enter")
    page.waitFunction("() => document.body.dataset.screen === 'notifications'")
    page.waitFunction("() => document.activeElement && document.activeElement.id === 'page-title'")
    assert page.eval("[...document.querySelectorAll('h1')].map(e => e.textContent)") == ["Notifications"]
    current = page.eval("document.querySelector('.tab[data-route=\"notifications\"]').getAttribute('aria-current')")
    assert current == "page"
    if width <= 820:
        assert page.eval("document.querySelector('#menu-toggle').getAttribute('aria-expanded')") == "false"
    # The reload above aborts the first screen's fetches still in flight: not an error.
    errors = [line for line in page.log() if not (line.startswith("requestfailed") and "net::ERR_ABORTED" in line)]
    assert not [line for line in errors if not (line.startswith("requestfailed") and "/socket.io/" in line)], errors


def accessible_name(page, selector: str) -> str:
    """The name a screen reader reads (axe-core's computation of the accessible name)."""
    page.axe()  # injects axe-core
    return page.eval(
        f"(() => {{ axe.setup(document); try {{ return axe.commons.text.accessibleText("
        f"document.querySelector({selector!r})); }} finally {{ axe.teardown(); }} }})()"
    )


@pytest.mark.parametrize("width", [1200, 360])
def test_unread_badges_have_their_count_in_words_and_are_announced(browser, practice, scene, width):  # noqa: F811
    tag = uuid.uuid4().hex[:6]
    page = sign_in(browser, f"unread-{width}-{tag}", practice["url"], "alice@demo.fr", width)
    go(page, "#/preferences")
    page.waitFunction("() => document.body.dataset.screen === 'preferences'")
    settle(page)
    before = int(page.text("#unread-badge"))
    messages_before = int(page.text("#nav-messages-badge"))

    # Dr Roux writes to Alice: both counts go up, in words, and the rise is announced.
    roux = scene["roux"]
    status, conv = http(
        "POST", f"{practice['url']}/api/conversations/", {"participant": scene["alice"]["id"]}, roux["access"]
    )
    assert status in (200, 201), conv
    status, body = http(
        "POST",
        f"{practice['url']}/api/conversations/{conv['id']}/messages/",
        {"contenu": f"Bonjour ({tag})"},
        roux["access"],
    )
    assert status == 201, body
    page.waitFunction(f"() => Number(document.querySelector('#nav-messages-badge').textContent) > {messages_before}")
    page.waitFunction(f"() => Number(document.querySelector('#unread-badge').textContent) > {before}")
    unread = int(page.text("#unread-badge"))
    unread_messages = int(page.text("#nav-messages-badge"))

    words = f"{unread} notification{'s' if unread > 1 else ''} non lue{'s' if unread > 1 else ''}"
    assert accessible_name(page, "#bell") == f"Notifications : {words}"
    assert page.eval("document.querySelector('#unread-badge').getAttribute('aria-hidden')") == "true"
    plural = "s" if unread_messages > 1 else ""
    message_words = f"{unread_messages} message{plural} non lu{plural}"
    if width <= 820:
        page.wait("#menu-badge:not([hidden])")
        assert page.text("#menu-badge") == str(unread_messages)
        assert accessible_name(page, "#menu-toggle") == f"Menu ({message_words})"
        page.click("#menu-toggle")  # the tabs are in the folded menu
    assert accessible_name(page, '.tab[data-route="messages"]') == f"Messages ({message_words})"
    # The polite live region said so (the last rise it announced).
    page.waitFunction("() => document.querySelector('#sr-status').textContent !== ''")
    assert page.text("#sr-status") in (words, message_words)
    assert page.eval("document.querySelector('#sr-status').getAttribute('role')") == "status"
    # Toasts sit in a polite live region; an error toast is an alert.
    assert page.eval("document.querySelector('#toasts').getAttribute('aria-live')") == "polite"
    show_every_toast_type(page)
    assert page.eval("document.querySelector('.toast-error').getAttribute('role')") == "alert"
    assert page.eval("document.querySelector('.toast-info').getAttribute('role')") is None
    no_errors_but(page)


def test_an_inline_cancel_form_closes_on_escape_focus_back_on_its_button(browser, practice, scene):  # noqa: F811
    page = sign_in(browser, "cancel-escape", practice["url"], scene["roux"]["email"], 390)
    go(page, f"#/agenda?date={scene['day']}")
    row = f'.agenda-row[data-rdv="{scene["pending"]}"]'
    page.wait(f'{row} [data-action="cancel"]')
    page.eval(f"document.querySelector('{row} [data-action=\"cancel\"]').focus()")
    page.press(f'{row} [data-action="cancel"]', "Enter")
    page.wait(f'{row} input[name="motif"]')
    assert accessible_name(page, f'{row} input[name="motif"]') == "Motif de l'annulation"
    assert page.eval("document.activeElement.name") == "motif"
    page.press(f'{row} input[name="motif"]', "Escape")
    page.wait(f'{row} [data-action="cancel"]')
    assert page.eval(f"document.activeElement === document.querySelector('{row} [data-action=\"cancel\"]')")
    status, rdv = http("GET", f"{practice['url']}/api/rendezvous/{scene['pending']}/", token=scene["roux"]["access"])
    assert rdv["statut"] == "EN_ATTENTE", rdv  # Escape cancelled nothing
    no_errors_but(page)


FOCUS_RING = """(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const s = getComputedStyle(e);
  return [`${e.tagName}#${e.id}.${e.className}`, s.outlineStyle, parseFloat(s.outlineWidth)];
})()"""


@pytest.mark.parametrize(
    ("who", "route", "width"),
    [("medecin", "agenda", 390), ("secretariat", "journee", 768), ("patient", "mes-rdv", 1200)],
)
def test_every_tab_stop_shows_a_focus_ring(browser, practice, scene, who, route, width):  # noqa: F811
    email = {"patient": "alice@demo.fr", "medecin": scene["roux"]["email"], "secretariat": practice["secretary"]}[who]
    page = sign_in(browser, f"ring-{who}", practice["url"], email, width)
    go(page, f"#/{route}?date={scene['day']}")
    page.waitFunction(f"() => document.body.dataset.screen === {route!r}")
    settle(page)
    page.waitFunction("() => document.activeElement && document.activeElement.id === 'page-title'")
    seen, bare = [], []
    for _ in range(30):
        page.key("Tab")
        ring = page.eval(FOCUS_RING)
        if ring is None:
            break
        seen.append(ring[0])
        if ring[1] == "none" or ring[2] < 2:
            bare.append(ring)
    assert len(seen) >= 5, seen
    assert not bare, f"focused without a visible ring: {bare} (tab stops: {seen})"
    no_errors_but(page)
