"""The front's date and notification texts (frontend/js/dates.js, notif-text.js) under Node,
in a process whose own locale and zone are American (issue 14): French words, the
practice's wall clock, every booking event for a patient, a doctor and a secretary.
The browser tests check the same on real screens; these check the cases one by one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]  # starts a Node process

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "frontend" / "js"

SCRIPT = """
const d = await import(%(dates)s);
const n = await import(%(notif)s);
const cases = JSON.parse(process.argv[1]);
const out = [];
for (const [fn, args] of cases) {
  try {
    if (fn === 'describe') out.push(n.describe(...args));
    else if (fn === 'setZone') out.push(d.setZone(...args));
    else out.push(d[fn](...args));
  } catch (e) { out.push(`ERROR ${e.message}`); }
}
console.log(JSON.stringify(out));
"""


def run(*cases) -> list:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("REQUIRE_SERVICES=1 but node is not installed")
        pytest.skip("node is not installed")
    script = SCRIPT % {
        "dates": json.dumps((JS / "dates.js").as_uri()),
        "notif": json.dumps((JS / "notif-text.js").as_uri()),
    }
    result = subprocess.run(
        [node, "--input-type=module", "-e", script, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TZ": "America/New_York", "LANG": "en_US.UTF-8", "LC_ALL": "en_US.UTF-8"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


SLOT = {"id": 7, "debut": "2031-12-08T09:30:00+01:00", "fin": "2031-12-08T10:00:00+01:00", "timezone": "Europe/Paris"}
OLD = {"id": 6, "debut": "2031-12-05T16:00:00+01:00", "fin": "2031-12-05T16:30:00+01:00", "timezone": "Europe/Paris"}
DOCTOR = {"id": 30, "first_name": "Jean", "last_name": "Martin", "specialite": "Médecine générale"}
PATIENT = {"id": 50, "first_name": "Emma", "last_name": "Stone", "role": "PATIENT"}
WHEN = "lundi 8 décembre 2031 à 09:30"


def booking(**extra) -> dict:
    return {
        "id": 1,
        "statut": "EN_ATTENTE",
        "creneau": SLOT,
        "medecin": DOCTOR,
        "patient": PATIENT,
        "annule_par": None,
        **extra,
    }


def test_dates_are_french_on_the_practices_clock_whatever_the_process_zone():
    out = run(
        ["setZone", ["Europe/Paris"]],
        ["formatSlot", [SLOT]],
        ["formatDateTime", ["2031-12-08T08:30:00Z"]],
        ["formatDateTime", ["2031-07-08T08:30:00Z"]],  # summer time: 10:30 in Paris
        ["formatDateTime", ["2031-12-08T08:30:00Z", "America/Martinique"]],
        ["formatSlot", [{**SLOT, "timezone": "Pacific/Noumea", "debut": "2031-12-08T09:30:00+11:00"}]],
        ["formatDay", ["2031-12-08"]],
        ["localDate", ["2031-12-08T23:30:00-05:00", "Europe/Paris"]],  # already the 9th in Paris
        ["localDate", ["2031-12-08T23:30:00-05:00"]],  # an API string: its own day
        ["localTime", ["2031-12-08T09:30:00+01:00"]],
        ["zonedIso", ["2031-07-08", "09:00", "Europe/Paris"]],
        ["zonedIso", ["2031-12-08", "09:00", "Europe/Paris"]],
        ["zonedIso", ["2031-07-08", "09:00", "Asia/Kolkata"]],
        ["addDays", ["2031-12-31", 1]],
        ["mondayOf", ["2031-12-07"]],
        ["setZone", ["Pas/Une_Zone"]],  # refused: the zone stays
    )
    assert out == [
        "Europe/Paris",
        "Lundi 8 décembre 2031 à 09:30",
        "lundi 8 décembre 2031 à 09:30",
        "mardi 8 juillet 2031 à 10:30",
        "lundi 8 décembre 2031 à 04:30",
        "Lundi 8 décembre 2031 à 09:30",
        "lundi 8 décembre",
        "2031-12-09",
        "2031-12-08",
        "09:30",
        "2031-07-08T09:00:00+02:00",
        "2031-12-08T09:00:00+01:00",
        "2031-07-08T09:00:00+05:30",
        "2032-01-01",
        "2031-12-01",
        "Europe/Paris",
    ]


PATIENT_ME = {"id": 50, "role": "PATIENT"}
DOCTOR_ME = {"id": 30, "role": "MEDECIN"}
SECRETARY_ME = {"id": 40, "role": "ADMINCABINET"}


@pytest.mark.parametrize(
    ("event", "data", "me", "text"),
    [
        (
            "rendezvous:created",
            booking(),
            PATIENT_ME,
            f"Rendez-vous demandé avec Dr Jean Martin le {WHEN}, en attente de confirmation",
        ),
        (
            "rendezvous:created",
            booking(statut="CONFIRME"),
            PATIENT_ME,
            f"Rendez-vous pris pour vous avec Dr Jean Martin le {WHEN} (confirmé)",
        ),
        (
            "rendezvous:confirmed",
            booking(statut="CONFIRME"),
            PATIENT_ME,
            f"Rendez-vous confirmé avec Dr Jean Martin le {WHEN}",
        ),
        (
            "rendezvous:cancelled",
            booking(statut="ANNULE", annule_par="MEDECIN"),
            PATIENT_ME,
            f"Votre rendez-vous avec Dr Jean Martin le {WHEN} a été annulé",
        ),
        (
            "rendezvous:cancelled",
            booking(statut="ANNULE", annule_par="PATIENT"),
            PATIENT_ME,
            f"Votre annulation est prise en compte : rendez-vous avec Dr Jean Martin le {WHEN}",
        ),
        (
            "rendezvous:moved",
            booking(ancien_creneau=OLD),
            PATIENT_ME,
            f"Rendez-vous avec Dr Jean Martin déplacé au {WHEN} (au lieu du vendredi 5 décembre 2031 à 16:00)",
        ),
        (
            "rappel:reminder",
            booking(statut="CONFIRME", rappel_minutes=1440),
            PATIENT_ME,
            f"Rappel : rendez-vous avec Dr Jean Martin le {WHEN}",
        ),
        (
            "rendezvous:new",
            booking(),
            DOCTOR_ME,
            f"Nouveau rendez-vous en attente de confirmation : Emma Stone le {WHEN}",
        ),
        (
            "rendezvous:new",
            booking(statut="CONFIRME"),
            SECRETARY_ME,
            f"Nouveau rendez-vous confirmé (pris par le cabinet) : Emma Stone avec Dr Jean Martin le {WHEN}",
        ),
        ("rendezvous:confirmed", booking(statut="CONFIRME"), DOCTOR_ME, f"Rendez-vous confirmé : Emma Stone le {WHEN}"),
        (
            "rendezvous:cancelled",
            booking(statut="ANNULE", annule_par="PATIENT"),
            SECRETARY_ME,
            f"Rendez-vous annulé par le patient : Emma Stone avec Dr Jean Martin le {WHEN}",
        ),
        (
            "rendezvous:moved",
            booking(ancien_creneau=OLD),
            DOCTOR_ME,
            f"Rendez-vous déplacé : Emma Stone au {WHEN} (au lieu du vendredi 5 décembre 2031 à 16:00)",
        ),
        (
            "creneau:offered",
            {"creneau": SLOT, "expire_at": "2031-12-01T10:05:00+01:00", "liste_attente": 3},
            PATIENT_ME,
            "Un créneau s'est libéré pour vous : Lundi 8 décembre 2031 à 09:30, réservé jusqu'à 10:05",
        ),
        # Nothing to name: the event's own message is shown.
        ("message:new", {"id": 1, "contenu": "Bonjour", "conversation": 2}, PATIENT_ME, None),
        ("notification:general", {"cible": {}}, PATIENT_ME, None),
        ("rendezvous:confirmed", {"id": 1, "creneau": 7}, PATIENT_ME, None),  # no slot object
        ("rendezvous:confirmed", None, PATIENT_ME, None),
    ],
)
def test_notifications_name_the_doctor_the_day_and_the_time(event, data, me, text):
    (answer,) = run(
        ["describe", [event, {"type": "success", "message": "Votre rendez-vous a été confirmé", "data": data}, me]]
    )
    assert answer == text
