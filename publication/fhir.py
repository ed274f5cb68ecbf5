"""The FHIR R4 resources of the SMART Scheduling Links files, shaped from the domain's rows.

Pure functions, no query (``publication/selectors.py`` reads). What each resource carries
is what the specification asks for (smart-on-fhir/smart-scheduling-links,
``specification.md``) and nothing about patients:

- ``Location`` (a practice): ``id``, ``identifier``, ``name``, ``telecom`` (phone, and the
  web front's URL so the list is never empty), ``address`` (``line``, ``city``,
  ``postalCode``, ``state`` = the French département, ``country``), the practice's time
  zone as the standard ``timezone`` extension.
- ``Practitioner`` (a doctor): name and identifiers only (the RPPS number when known);
  never the doctor's e-mail or personal phone.
- ``Schedule`` (one per doctor): ``actor`` → the practice's ``Location`` and the
  ``Practitioner``; ``serviceType`` and ``specialty`` from the doctor's specialty.
- ``Slot`` (a free slot): ``schedule``, ``status: free``, ``start``/``end`` as FHIR
  instants with the practice's local offset, the ``booking-deep-link`` extension (unless
  the slot is too short for every visit reason open online) and ``booking-phone``.
"""

from __future__ import annotations

import unicodedata
import zoneinfo
from datetime import datetime

BOOKING_DEEP_LINK = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"
BOOKING_PHONE = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-phone"
TIMEZONE = "http://hl7.org/fhir/StructureDefinition/timezone"
SERVICE_TYPE = "http://terminology.hl7.org/CodeSystem/service-type"
# HL7 service-type "General Practice": the one specialty of the project with a code there
# that is certain; the others are published as text (serviceType.text, specialty.text).
GENERAL_PRACTICE = {"system": SERVICE_TYPE, "code": "124", "display": "General Practice"}
GENERALISTE = {"medecine generale", "medecin generaliste", "generaliste", "medecine generale (generaliste)"}

# The resource types of the files, in the manifest's order.
TYPES = ("Location", "Practitioner", "Schedule", "Slot")


def _plain(text: str) -> str:
    """Lower case without accents: ``Médecine générale`` → ``medecine generale``."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def departement(code_postal: str) -> str | None:
    """The département of a French postal code (``69006`` → ``69``; Corsica ``2A``/``2B``;
    overseas three digits): the address ``state`` and the manifest's jurisdiction hint."""
    code = (code_postal or "").strip()
    if len(code) != 5 or not code.isdigit():
        return None
    if code.startswith(("97", "98")):
        return code[:3]
    if code.startswith("20"):
        return "2A" if int(code) < 20200 else "2B"
    return code[:2]


def instant(value: datetime, tz: zoneinfo.ZoneInfo) -> str:
    """A FHIR instant to the second with the practice's offset: ``2026-12-01T09:00:00+01:00``."""
    return value.astimezone(tz).isoformat(timespec="seconds")


def identifier_system(base_url: str, kind: str) -> str:
    return f"{base_url}/fhir/identifiers/{kind}"


def location(cabinet, *, base_url: str, front_url: str) -> dict:
    """A practice (``rendezvous.Cabinet``)."""
    telecom = []
    if cabinet.telephone.strip():
        telecom.append({"system": "phone", "value": cabinet.telephone.strip()})
    telecom.append({"system": "url", "value": f"{front_url}/"})
    address: dict = {"use": "work", "type": "physical"}
    if cabinet.adresse.strip():
        address["line"] = [cabinet.adresse.strip()]
    address["city"] = cabinet.ville.strip()
    state = departement(cabinet.code_postal)
    if state:
        address["state"] = state
    if cabinet.code_postal.strip():
        address["postalCode"] = cabinet.code_postal.strip()
    address["country"] = "FR"
    return {
        "resourceType": "Location",
        "id": str(cabinet.pk),
        "extension": [{"url": TIMEZONE, "valueCode": cabinet.timezone}],
        "identifier": [{"system": identifier_system(base_url, "cabinet"), "value": str(cabinet.pk)}],
        "status": "active",
        "name": cabinet.nom,
        "telecom": telecom,
        "address": address,
    }


def practitioner_name(medecin) -> str:
    return " ".join(part for part in ("Dr", medecin.user.first_name.strip(), medecin.user.last_name.strip()) if part)


def practitioner(medecin, *, base_url: str) -> dict:
    """A doctor (``rendezvous.Medecin``): public professional identity only."""
    identifiers = [{"system": identifier_system(base_url, "medecin"), "value": str(medecin.pk)}]
    if medecin.rpps.strip():
        identifiers.append({"type": {"text": "RPPS"}, "value": medecin.rpps.strip()})
    name: dict = {"use": "official", "text": practitioner_name(medecin), "prefix": ["Dr"]}
    if medecin.user.last_name.strip():
        name["family"] = medecin.user.last_name.strip()
    if medecin.user.first_name.strip():
        name["given"] = [medecin.user.first_name.strip()]
    return {
        "resourceType": "Practitioner",
        "id": str(medecin.pk),
        "identifier": identifiers,
        "active": True,
        "name": [name],
    }


def schedule(medecin) -> dict:
    """A doctor's agenda at their practice; the slots point to it."""
    specialite = medecin.specialite.strip()
    service: dict = {"text": specialite}
    if _plain(specialite) in GENERALISTE:
        service = {"coding": [GENERAL_PRACTICE], "text": specialite}
    return {
        "resourceType": "Schedule",
        "id": str(medecin.pk),
        "active": True,
        "serviceType": [service],
        "specialty": [{"text": specialite}],
        "actor": [
            {"reference": f"Location/{medecin.cabinet_id}", "display": medecin.cabinet.nom},
            {"reference": f"Practitioner/{medecin.pk}", "display": practitioner_name(medecin)},
        ],
    }


class SlotShape:
    """What every slot of one doctor shares (reference, time zone, phone, link prefix),
    computed once per doctor: a slot then costs two time conversions and a small dict."""

    __slots__ = ("reference", "tz", "phone", "link", "online_seconds")

    def __init__(self, medecin, *, front_url: str) -> None:
        self.reference = {"reference": f"Schedule/{medecin.pk}"}
        self.tz = medecin.cabinet.tzinfo
        phone = medecin.cabinet.telephone.strip()
        self.phone = {"url": BOOKING_PHONE, "valueString": phone} if phone else None
        # The web front's booking view of the doctor at the slot's week (hash route
        # ``#/rdv?medecin=&date=``), with the slot's id. Ids and ISO dates need no
        # escaping. A client appends ``source`` and ``booking-referral`` to the URL's
        # query, before the fragment.
        self.link = f"{front_url}/#/rdv?medecin={medecin.pk}&date="
        # A slot shorter than every visit reason open online cannot be booked online
        # (``creneau_trop_court``): it keeps the phone, not the link.
        minutes = getattr(medecin, "duree_min_en_ligne", None)
        self.online_seconds = minutes * 60 if minutes else 0

    def slot(self, creneau_id: int, debut: int, fin: int) -> dict:
        """``debut``/``fin`` in seconds since 1970 (``selectors.free_slot_rows``)."""
        start = datetime.fromtimestamp(debut, self.tz).isoformat(timespec="seconds")
        extension = []
        if fin - debut >= self.online_seconds:
            extension.append({"url": BOOKING_DEEP_LINK, "valueUrl": f"{self.link}{start[:10]}&creneau={creneau_id}"})
        if self.phone is not None:
            extension.append(self.phone)
        return {
            "resourceType": "Slot",
            "id": str(creneau_id),
            "schedule": self.reference,
            "status": "free",
            "start": start,
            "end": datetime.fromtimestamp(fin, self.tz).isoformat(timespec="seconds"),
            **({"extension": extension} if extension else {}),
        }
