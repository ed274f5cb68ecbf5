"""The preferences screen and the ``.ics`` button, in Chromium at 360 px, by keyboard."""

from __future__ import annotations

import urllib.error
import urllib.request

import icalendar
import pytest

from .browser import sign_in
from .live import http
from .test_browser import browser, day, shot, site  # noqa: F401  (fixtures)
from .test_browser_practice import no_serious_axe_violations

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
PHONE = {"width": 360, "height": 740}


def no_horizontal_scroll(page) -> None:
    """Nothing past the right edge: the page, and each element of the screen (named if not)."""
    wide = page.eval("""[...document.querySelectorAll('#view *')].filter((e) => e.getBoundingClientRect().right > 361)
      .slice(0, 5).map((e) => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)""")
    assert not wide, wide
    width = page.eval("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide at {PHONE['width']} px"


def test_preferences_screen_and_the_ics_button(browser, site, day):  # noqa: F811
    token = site["users"]["chloe@demo.fr"]["access"]
    status, rdv = http("POST", f"{site['url']}/api/rendezvous/", {"creneau": day["s1"]}, token)
    assert status == 201, rdv

    page = sign_in(browser, "prefs", site["url"], "chloe@demo.fr", viewport=PHONE)
    page.eval("window.location.hash = '#/preferences'")
    page.wait('#prefs-kinds fieldset[data-kind="rappel"]')
    no_horizontal_scroll(page)

    # An invalid number: the API's French message, next to the field; nothing saved.
    page.fill("#pref-telephone", "abc")
    page.press("#pref-telephone", "Enter")
    page.wait("#pref-telephone-error")
    assert "invalide" in page.text("#pref-telephone-error")
    # A valid one is stored in E.164, and SMS become possible.
    page.fill("#pref-telephone", "06 12 34 56 78")
    page.press("#pref-telephone", "Enter")
    page.waitFunction("() => document.querySelector('#pref-telephone').value === '+33612345678'")
    page.waitFunction("() => !document.querySelector('#pref-rappel-sms').disabled")
    assert page.eval("document.querySelector('#pref-rappel-sms').checked") is True  # the default

    # Keyboard: Space on the focused checkbox turns reminder SMS off, saved at once.
    page.press("#pref-rappel-sms", " ")
    page.waitFunction("() => !document.querySelector('#pref-rappel-sms').checked")
    for _ in range(50):
        status, prefs = http("GET", f"{site['url']}/api/me/preferences/", token=token)
        if prefs["rappel"]["sms"] is False:
            break
    assert prefs["rappel"] == {"email": True, "sms": False}, prefs

    # The calendar address: made, then fetched without any login and parsed.
    page.press("#calendar-make", "Enter")
    page.wait("#calendar-url")
    url = page.eval("document.querySelector('#calendar-url').value")
    path = "/" + url.split("/", 3)[3]
    with urllib.request.urlopen(site["url"] + path, timeout=30) as response:
        cal = icalendar.Calendar.from_ical(response.read())
    assert any(str(e["UID"]).startswith(f"rendezvous-{rdv['id']}@") for e in cal.walk("VEVENT"))
    no_horizontal_scroll(page)
    no_serious_axe_violations(page, "preferences at 360 px")
    shot(page, "preferences-360")

    # "Mes rendez-vous": the .ics of the booking, as the browser saves it.
    page.eval("window.location.hash = '#/mes-rdv'")
    page.wait(f'[data-rdv="{rdv["id"]}"] [data-action="ics"]')
    no_serious_axe_violations(page, "Mes rendez-vous at 360 px")
    page.eval("""(() => {
      const create = URL.createObjectURL;
      URL.createObjectURL = (blob) => { blob.text().then((t) => { window.__ics = t; }); return create(blob); };
      const click = HTMLAnchorElement.prototype.click;
      HTMLAnchorElement.prototype.click = function () { if (this.download) { window.__file = this.download; return; }
        return click.call(this); };
    })()""")
    page.press(f'[data-rdv="{rdv["id"]}"] [data-action="ics"]', "Enter")
    text = page.waitFunction("() => window.__ics")
    assert page.eval("window.__file") == f"rendezvous-{rdv['id']}.ics"
    event = icalendar.Calendar.from_ical(text).walk("VEVENT")[0]
    assert str(event["UID"]).startswith(f"rendezvous-{rdv['id']}@")
    no_horizontal_scroll(page)
    log = page.log()
    # The one error is the refused number's 400, shown next to the field.
    assert [line for line in log if "status of 400" in line] == [
        "console: Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    assert not [line for line in log if "status of 400" not in line and not (
        line.startswith("requestfailed") and "/socket.io/" in line)], log


def test_a_doctor_subscribes_to_their_agenda(browser, site, day):  # noqa: F811
    token = site["users"]["bob@demo.fr"]["access"]
    status, rdv = http("POST", f"{site['url']}/api/rendezvous/", {"creneau": day["s2"]}, token)
    assert status == 201, rdv
    page = sign_in(browser, "doctor-agenda", site["url"], "dr.bernard@demo.fr", viewport=PHONE)
    page.eval("window.location.hash = '#/preferences'")
    page.wait("#calendar-make")
    assert page.count("#prefs-kinds") == 0  # no e-mail/SMS choices for a doctor
    page.press("#calendar-make", "Enter")
    page.wait("#calendar-url")
    url = page.eval("document.querySelector('#calendar-url').value")
    with urllib.request.urlopen(site["url"] + "/" + url.split("/", 3)[3], timeout=30) as response:
        cal = icalendar.Calendar.from_ical(response.read())
    [event] = [e for e in cal.walk("VEVENT") if str(e["UID"]).startswith(f"rendezvous-{rdv['id']}@")]
    assert "Bob" in str(event["SUMMARY"])  # the doctor's agenda names the patient
    no_horizontal_scroll(page)
    no_serious_axe_violations(page, "doctor's calendar at 360 px")
    page.press("#calendar-revoke", "Enter")
    page.wait("#calendar-url", state="hidden")
    try:
        urllib.request.urlopen(site["url"] + "/" + url.split("/", 3)[3], timeout=30)
        raise AssertionError("a revoked calendar URL still answers")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
