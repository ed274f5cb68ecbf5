"""The waiting list and the hold's states on a phone (issue 13's front under issue 14's
rules): at 360 and 390 px, driven by keyboard, each state fits the width and has no serious
or critical axe-core violation — the waiting-list form and its refusal, the registration,
the offer in "Mes rendez-vous" and its booking panel, the hold's countdown and its lapse.

tests/test_browser_attente.py proves what these screens do (at a desktop width); this file
proves they can be used where most patients book.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from .live import http
from .test_browser import browser, go  # noqa: F401  (browser: a fixture)
from .test_browser_attente import (
    HOLD_SECONDS,
    far_day,
    focused,
    make_practice,
    publish,
    short_holds,  # noqa: F401  (a fixture: holds of HOLD_SECONDS)
    sign_in,
    tab_to,
)
from .test_browser_practice import fits_the_width, no_errors_but, no_serious_axe_violations

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

WIDTHS = [360, 390]


def usable(page, where: str) -> None:
    """Nothing wider than the screen, no serious or critical axe-core violation."""
    fits_the_width(page)
    no_serious_axe_violations(page, where)


def focus_inside(page, selector: str) -> bool:
    return page.eval(f"!!document.activeElement && !!document.activeElement.closest({selector!r})")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_waiting_list_and_its_offer_by_keyboard_on_a_phone(browser, short_holds, width):  # noqa: F811
    practice = make_practice(short_holds)
    doctor = practice["doctors"][0]
    paula, hugo = practice["patients"][:2]
    day = far_day()
    (slot,) = publish(practice, doctor, day, "10:00")
    status, booked = http("POST", f"{practice['url']}/api/rendezvous/", {"creneau": slot}, token=hugo["access"])
    assert status == 201, booked

    page = sign_in(
        browser, f"wl-phone-{width}", practice["url"], paula["email"], viewport={"width": width, "height": 800}
    )
    go(page, f"#/rdv?medecin={doctor['id']}&date={day}")
    page.wait("#waitlist-open")
    usable(page, f"{width}: semaine sans créneau, bouton liste d'attente")
    tab_to(page, "#waitlist-open")
    page.key("Enter")
    page.wait("#waitlist-form")
    assert focused(page)["id"] == "wl-from"
    monday = date.fromisoformat(day) - timedelta(days=date.fromisoformat(day).weekday())
    page.fill("#wl-to", (monday - timedelta(days=1)).isoformat())
    page.press("#wl-to", "Enter")
    page.wait('[data-testid="wl-error"]')
    assert page.eval("document.querySelector('[data-testid=wl-error]').dataset.code") == "periode_invalide"
    usable(page, f"{width}: formulaire de liste d'attente refusé")
    page.fill("#wl-to", (monday + timedelta(days=6)).isoformat())
    page.press("#wl-to", "Enter")
    page.wait("#wl-done")
    usable(page, f"{width}: inscrite sur la liste d'attente")

    # Hugo cancels: the offer shows in "Mes rendez-vous"; "Réserver" by keyboard opens the
    # panel with the focus in it; she books by keyboard.
    status, body = http("POST", f"{practice['url']}/api/rendezvous/{booked['id']}/cancel/", {}, token=hugo["access"])
    assert status == 200, body
    go(page, "#/mes-rdv")
    page.wait(f'[data-offre="{slot}"] [data-action="book-offer"]')
    usable(page, f"{width}: une offre dans Mes rendez-vous")
    tab_to(page, f'[data-offre="{slot}"] [data-action="book-offer"]')
    page.key("Enter")
    page.wait("#book-confirm")
    page.waitFunction("() => !!document.activeElement && !!document.activeElement.closest('#booking-panel')")
    usable(page, f"{width}: panneau ouvert sur l'offre")
    tab_to(page, "#book-confirm")
    page.key("Enter")
    page.wait('[data-testid="banner-success"]')
    usable(page, f"{width}: offre réservée")
    no_errors_but(page, 400)  # the range refused above


@pytest.mark.parametrize("width", WIDTHS)
def test_the_hold_countdown_and_its_lapse_by_keyboard_on_a_phone(browser, short_holds, width):  # noqa: F811
    practice = make_practice(short_holds)
    doctor = practice["doctors"][1]
    paula = practice["patients"][0]
    day = far_day()
    (slot,) = publish(practice, doctor, day, "11:00")

    page = sign_in(
        browser, f"hold-phone-{width}", practice["url"], paula["email"], viewport={"width": width, "height": 800}
    )
    go(page, f"#/rdv?medecin={doctor['id']}&date={day}")
    page.wait(f'.slot[data-creneau="{slot}"]')
    tab_to(page, f'.slot[data-creneau="{slot}"]')
    page.key("Enter")
    page.wait("#hold-countdown")
    assert focus_inside(page, "#booking-panel")
    usable(page, f"{width}: créneau retenu, compte à rebours")
    page.wait('[data-testid="hold-lapsed"]', timeout=(HOLD_SECONDS + 5) * 1000)
    assert focused(page)["id"] == "hold-again"
    usable(page, f"{width}: délai dépassé, reprendre le créneau")
    page.key("Enter")  # "Reprendre ce créneau", by keyboard
    page.wait('[data-testid="hold-lapsed"]', state="detached")
    assert page.eval("document.getElementById('book-confirm').disabled") is False
    page.press("#motif", "Escape")
    page.wait("#booking-panel", state="hidden")
    assert focused(page)["creneau"] == str(slot)
    no_errors_but(page)
