"""Slots published to other systems: SMART Scheduling Links under /fhir/ (publication/).

Each file is validated line by line with the FHIR R4 (4.0.1) models of ``fhir.resources``
6.4.0 (unknown fields, malformed instants, ids and references are refused there) and
checked for the specification's required fields, which R4 leaves optional. Then: only
free, bookable slots; no patient data anywhere; the validators (ETag, Last-Modified,
304s); anonymous reading, throttling, refusals; a bounded number of queries.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connections
from django.http import StreamingHttpResponse
from django.test import AsyncClient, Client
from django.utils import timezone
from fhir.resources import __fhir_version__
from fhir.resources.location import Location
from fhir.resources.practitioner import Practitioner
from fhir.resources.schedule import Schedule
from fhir.resources.slot import Slot

from rendezvous.models import Cabinet, Creneau, Medecin, Motif, RendezVous, StatutRendezVous, User

from . import factories as f
from .helpers import assert_error, fast_hashers, unchanged  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

MANIFEST = "/fhir/$bulk-publish"
MODELS = {"Location": Location, "Practitioner": Practitioner, "Schedule": Schedule, "Slot": Slot}
# The specification's timestamps: to the second at least, with an offset (or Z).
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")
ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
DEEP_LINK = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"
BOOKING_PHONE = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-phone"


def test_the_models_are_fhir_r4():
    assert __fhir_version__ == "4.0.1"


@pytest.fixture
def agenda(db):
    """Two practices (Lyon, Fort-de-France), three doctors, free and taken slots, patients
    with names, e-mails, phones and booking reasons that must never be published."""
    lyon = f.cabinet(nom="Cabinet du Parc", adresse="12 rue du Parc", ville="Lyon", code_postal="69006",
                     telephone="04 78 00 00 00", timezone="Europe/Paris")
    fdf = f.cabinet(nom="Cabinet des Alizés", adresse="3 rue Victor Hugo", ville="Fort-de-France",
                    code_postal="97200", telephone="05 96 00 00 00", timezone="America/Martinique")
    martin = f.medecin(lyon, specialite="Médecine générale", first_name="Jean", last_name="Martin",
                       email="dr.martin.prive@test.fr", telephone="06 99 99 99 01")
    bernard = f.medecin(lyon, specialite="Pédiatrie", first_name="Anne", last_name="Bernard")
    Medecin.objects.filter(pk=bernard.pk).update(rpps="10003456789")
    bernard.refresh_from_db()
    petit = f.medecin(fdf, specialite="Cardiologie", first_name="Luc", last_name="Petit")
    alice = f.patient(first_name="Alicia", last_name="Zébulon", email="alicia.zebulon@test.fr",
                      telephone="06 11 22 33 44")
    bob = f.patient(first_name="Barnabé", last_name="Quintal", email="barnabe.quintal@test.fr",
                    telephone="07 55 66 77 88")
    free = [f.creneau(martin, f.future(30)), f.creneau(martin, f.future(31)), f.creneau(bernard, f.future(40)),
            f.creneau(petit, f.future(50))]
    taken = f.creneau(martin, f.future(32))
    f.rendezvous(alice, taken, motif="Douleur thoracique secrète")
    pending = f.creneau(bernard, f.future(41))
    f.rendezvous(bob, pending, motif="Vaccin rougeole confidentiel", statut=StatutRendezVous.EN_ATTENTE)
    confirmed = f.creneau(petit, f.future(51))
    f.rendezvous(bob, confirmed, statut=StatutRendezVous.CONFIRME, confirme_at=timezone.now())
    reopened = f.creneau(petit, f.future(52))
    f.rendezvous(alice, reopened, statut=StatutRendezVous.ANNULE, annule_at=timezone.now(),
                 motif_annulation="Empêchement personnel")
    free.append(reopened)
    return {
        "lyon": lyon, "fdf": fdf, "martin": martin, "bernard": bernard, "petit": petit,
        "patients": [alice, bob], "free": free, "booked": [taken, pending, confirmed],
    }


def get(path: str, client: Client | None = None, **headers):
    return (client or Client()).get(path, **headers)


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def lines(response) -> list[dict]:
    """The NDJSON body: one minified JSON object per line, each line ending in a newline."""
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/fhir+ndjson"
    raw = content(response)
    assert raw == b"" or raw.endswith(b"\n")
    out = []
    for line in raw.decode().splitlines():
        resource = json.loads(line)
        assert line == json.dumps(resource, separators=(",", ":"), ensure_ascii=False), "not minified"
        out.append(resource)
    return out


def manifest(**headers) -> dict:
    response = get(MANIFEST, **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)


def files(**headers) -> dict[str, list[dict]]:
    """Every file the manifest lists, fetched from the URL it gives, validated as FHIR R4."""
    out: dict[str, list[dict]] = {}
    for item in manifest(**headers)["output"]:
        url = urlsplit(item["url"])
        resources = lines(get(url.path, **headers))
        for resource in resources:
            assert resource["resourceType"] == item["type"]
            MODELS[item["type"]].parse_obj(resource)  # R4: raises on anything malformed
            assert ID.match(resource["id"]), resource["id"]
        out.setdefault(item["type"], []).extend(resources)
    return out


def slot_ids(published: dict) -> set[int]:
    return {int(s["id"]) for s in published["Slot"]}


def extension(resource: dict, url: str) -> dict:
    found = [e for e in resource.get("extension", []) if e["url"] == url]
    assert len(found) == 1, (url, resource)
    return found[0]


# --- the manifest and the resources, as the specification describes them -----------------

def test_manifest_lists_absolute_urls_of_each_file_and_no_error(agenda):
    data = manifest()
    assert set(data) == {"transactionTime", "request", "output", "error"}
    assert INSTANT.match(data["transactionTime"]), data["transactionTime"]
    assert data["request"] == "http://testserver/fhir/$bulk-publish"
    assert data["error"] == []
    assert [item["type"] for item in data["output"]] == ["Location", "Practitioner", "Schedule", "Slot"]
    for item in data["output"]:
        assert item["url"] == f"http://testserver/fhir/{item['type']}.ndjson"
        assert item["extension"] == {"state": ["69", "972"]}  # the practices' départements


def test_absolute_urls_come_from_fhir_base_url_when_set(agenda, settings):
    settings.FHIR_BASE_URL = "https://rdv.example.fr"
    data = manifest()
    assert data["request"] == "https://rdv.example.fr/fhir/$bulk-publish"
    assert {item["url"] for item in data["output"]} == {
        f"https://rdv.example.fr/fhir/{kind}.ndjson" for kind in ("Location", "Practitioner", "Schedule", "Slot")}


def test_locations_carry_the_required_fields(agenda):
    locations = {loc["id"]: loc for loc in files()["Location"]}
    lyon = agenda["lyon"]
    assert set(locations) == {str(lyon.pk), str(agenda["fdf"].pk)}
    loc = locations[str(lyon.pk)]
    assert loc["name"] == "Cabinet du Parc"
    assert {"system": "phone", "value": "04 78 00 00 00"} in loc["telecom"]
    assert {"system": "url", "value": "http://testserver/"} in loc["telecom"]
    assert loc["address"]["line"] == ["12 rue du Parc"]
    assert (loc["address"]["city"], loc["address"]["state"], loc["address"]["postalCode"]) == ("Lyon", "69", "69006")
    assert loc["identifier"] == [{"system": "http://testserver/fhir/identifiers/cabinet", "value": str(lyon.pk)}]
    assert extension(loc, "http://hl7.org/fhir/StructureDefinition/timezone")["valueCode"] == "Europe/Paris"
    assert locations[str(agenda["fdf"].pk)]["address"]["state"] == "972"


def test_a_practice_without_an_active_doctor_is_not_published(agenda):
    empty = f.cabinet(nom="Cabinet vide", code_postal="75001")
    gone = f.medecin(f.cabinet(nom="Cabinet fermé"))
    User.objects.filter(pk=gone.pk).update(is_active=False)
    published = files()
    assert str(empty.pk) not in {loc["id"] for loc in published["Location"]}
    assert str(gone.pk) not in {s["id"] for s in published["Schedule"]}
    assert str(gone.pk) not in {p["id"] for p in published["Practitioner"]}


def test_one_schedule_per_doctor_pointing_to_its_location_and_practitioner(agenda):
    published = files()
    location_ids = {loc["id"] for loc in published["Location"]}
    practitioners = {p["id"]: p for p in published["Practitioner"]}
    schedules = {s["id"]: s for s in published["Schedule"]}
    doctors = [agenda["martin"], agenda["bernard"], agenda["petit"]]
    assert set(schedules) == {str(m.pk) for m in doctors} == set(practitioners)
    for m in doctors:
        schedule = schedules[str(m.pk)]
        refs = [actor["reference"] for actor in schedule["actor"]]
        assert refs == [f"Location/{m.cabinet_id}", f"Practitioner/{m.pk}"]
        assert refs[0].split("/")[1] in location_ids
        assert schedule["serviceType"] and schedule["specialty"] == [{"text": m.specialite}]
    assert schedules[str(agenda["martin"].pk)]["serviceType"] == [{
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/service-type", "code": "124",
                    "display": "General Practice"}],
        "text": "Médecine générale"}]
    assert schedules[str(agenda["petit"].pk)]["serviceType"] == [{"text": "Cardiologie"}]
    bernard = practitioners[str(agenda["bernard"].pk)]
    assert bernard["name"][0]["family"] == "Bernard" and bernard["name"][0]["given"] == ["Anne"]
    assert {"type": {"text": "RPPS"}, "value": "10003456789"} in bernard["identifier"]
    assert "telecom" not in bernard  # a doctor's own contacts are not published


def test_slots_carry_the_required_fields_deep_link_and_phone(agenda):
    published = files()
    schedule_ids = {s["id"] for s in published["Schedule"]}
    by_id = {int(s["id"]): s for s in published["Slot"]}
    for slot in published["Slot"]:
        assert slot["status"] == "free"
        assert slot["schedule"]["reference"].split("/")[1] in schedule_ids
        assert INSTANT.match(slot["start"]) and INSTANT.match(slot["end"]), slot
        assert datetime.fromisoformat(slot["start"]) < datetime.fromisoformat(slot["end"])
        assert urlsplit(extension(slot, DEEP_LINK)["valueUrl"]).scheme == "http"
        assert extension(slot, BOOKING_PHONE)["valueString"]
    lyon_slot = agenda["free"][0]
    slot = by_id[lyon_slot.pk]
    assert slot["schedule"] == {"reference": f"Schedule/{agenda['martin'].pk}"}
    # The practice's local offset, the same instant.
    local = lyon_slot.debut.astimezone(agenda["lyon"].tzinfo)
    assert slot["start"] == local.isoformat(timespec="seconds")
    assert datetime.fromisoformat(slot["start"]) == lyon_slot.debut
    assert datetime.fromisoformat(slot["end"]) == lyon_slot.fin
    assert extension(slot, BOOKING_PHONE)["valueString"] == "04 78 00 00 00"
    martinique = by_id[agenda["free"][3].pk]
    assert martinique["start"].endswith("-04:00")
    assert extension(martinique, BOOKING_PHONE)["valueString"] == "05 96 00 00 00"


def test_times_with_seconds_and_fractions_are_published_to_the_second(agenda):
    odd = f.creneau(agenda["martin"], f.future(70) + timedelta(seconds=59, microseconds=999_999), minutes=7)
    slot = next(s for s in files()["Slot"] if s["id"] == str(odd.pk))
    tz = agenda["lyon"].tzinfo
    assert slot["start"] == odd.debut.astimezone(tz).isoformat(timespec="seconds")
    assert slot["start"][17:19] == "59"  # truncated, as the instant format allows
    assert slot["end"] == odd.fin.astimezone(tz).isoformat(timespec="seconds")


def test_the_deep_link_opens_the_doctors_week_at_the_slots_local_date_in_the_front(agenda, settings):
    settings.FRONTEND_URL = "https://front.example.fr"
    # 23:30 UTC is the next day in Lyon (UTC+1 in winter, +2 in summer).
    day = (timezone.now() + timedelta(days=3)).replace(hour=23, minute=30, second=0, microsecond=0)
    night = f.creneau(agenda["martin"], day)
    slot = next(s for s in files()["Slot"] if s["id"] == str(night.pk))
    link = urlsplit(extension(slot, DEEP_LINK)["valueUrl"])
    assert (link.scheme, link.netloc, link.path, link.query) == ("https", "front.example.fr", "/", "")
    route, _, query = link.fragment.partition("?")
    assert route == "/rdv"  # the patient's booking view (frontend/js/views/booking.js)
    params = parse_qs(query)
    assert params == {"medecin": [str(agenda["martin"].pk)], "date": [(day + timedelta(days=1)).date().isoformat()],
                      "creneau": [str(night.pk)]}


def test_a_slot_too_short_for_every_online_visit_reason_keeps_the_phone_not_the_link(agenda):
    martin = agenda["martin"]
    short = f.creneau(martin, f.future(80), minutes=20)
    long = f.creneau(martin, f.future(81), minutes=45)

    def links() -> dict[int, bool]:
        published = {int(s["id"]): s for s in files()["Slot"]}
        for slot in (published[short.pk], published[long.pk]):
            assert extension(slot, BOOKING_PHONE)["valueString"] == "04 78 00 00 00"
        return {pk: any(e["url"] == DEEP_LINK for e in published[pk].get("extension", []))
                for pk in (short.pk, long.pk)}

    assert links() == {short.pk: True, long.pk: True}  # no visit reason: booked without one
    etag = get("/fhir/Slot.ndjson")["ETag"]
    Motif.objects.create(medecin=martin, libelle="Consultation", duree_minutes=30)
    Motif.objects.create(medecin=martin, libelle="Bilan", duree_minutes=45)
    assert links() == {short.pk: False, long.pk: True}
    assert get("/fhir/Slot.ndjson", HTTP_IF_NONE_MATCH=etag).status_code == 200  # the content changed
    Motif.objects.create(medecin=martin, libelle="Renouvellement", duree_minutes=15, en_ligne=False)
    assert links() == {short.pk: False, long.pk: True}  # not open online: no help online
    Motif.objects.create(medecin=martin, libelle="Certificat", duree_minutes=15)
    assert links() == {short.pk: True, long.pk: True}


def test_the_front_still_has_the_route_and_parameters_the_deep_link_uses():
    """The link's contract with frontend/ (no browser here): the patient's ``rdv`` route
    on the booking view, which reads ``medecin`` and ``date`` from the hash."""
    front = Path(__file__).resolve().parent.parent / "frontend" / "js"
    assert re.search(r"\[\s*'rdv'\s*,[^\]]*\bbooking\s*\]", (front / "app.js").read_text())
    view = (front / "views" / "booking.js").read_text()
    assert "params.medecin" in view and "params.date" in view


def test_accept_headers_of_the_specification_get_the_same_payload(agenda):
    plain = content(get("/fhir/Slot.ndjson"))
    assert content(get("/fhir/Slot.ndjson", HTTP_ACCEPT="application/fhir+ndjson")) == plain
    assert content(get("/fhir/Slot.ndjson", HTTP_ACCEPT="text/html")) == plain
    assert get(MANIFEST, HTTP_ACCEPT="application/json").content == get(MANIFEST).content


def test_since_parameter_is_ignored_even_malformed(agenda):
    full = content(get("/fhir/Slot.ndjson"))
    assert content(get("/fhir/Slot.ndjson?_since=2020-01-01T00:00:00Z")) == full
    assert content(get("/fhir/Slot.ndjson?_since=pas-une-date")) == full
    assert get(f"{MANIFEST}?_since=%00").status_code == 200


# --- what is published: free slots only, no patient data ----------------------------------

def test_only_free_bookable_slots_of_the_horizon_are_published(agenda, settings):
    martin, lyon = agenda["martin"], agenda["lyon"]
    withdrawn = f.creneau(martin, f.future(60), actif=False)
    past = f.creneau(martin, timezone.now() - timedelta(hours=3))
    started = f.creneau(martin, timezone.now() - timedelta(minutes=10), minutes=30)
    beyond = f.creneau(martin, timezone.now() + timedelta(weeks=settings.CRENEAUX_HORIZON_SEMAINES, hours=1))
    inside = f.creneau(martin, timezone.now() + timedelta(weeks=settings.CRENEAUX_HORIZON_SEMAINES, hours=-2))
    soon = f.creneau(martin, f.future(0, minutes=45))
    published = slot_ids(files())
    assert published == {s.pk for s in agenda["free"]} | {inside.pk, soon.pk}
    assert not published & {s.pk for s in agenda["booked"]}
    assert not published & {withdrawn.pk, past.pk, started.pk, beyond.pk}
    # The practice's minimum notice closes online booking that long before: not published.
    Cabinet.objects.filter(pk=lyon.pk).update(preavis_minimum_minutes=120)
    assert soon.pk not in slot_ids(files())
    # A doctor deactivated: their slots go.
    User.objects.filter(pk=martin.pk).update(is_active=False)
    assert not slot_ids(files()) & set(Creneau.objects.filter(medecin=martin).values_list("pk", flat=True))


def test_no_patient_data_anywhere_and_no_booked_slot(agenda):
    assert not slot_ids(files()) & {s.pk for s in agenda["booked"]}
    published = [get(MANIFEST).content]
    published += [content(get(f"/fhir/{kind}.ndjson")) for kind in MODELS]
    text = b"\n".join(published).decode()
    for patient in agenda["patients"]:
        for value in (patient.first_name, patient.last_name, patient.email, patient.telephone,
                      patient.telephone.replace(" ", ""), str(patient.pk) + "@"):
            assert value not in text, value
    for words in ("Douleur thoracique", "rougeole", "Empêchement"):
        assert words not in text
    # Nor staff's personal contacts: the doctor's e-mail and own phone.
    assert "dr.martin.prive" not in text and "06 99 99 99 01" not in text
    assert "patient" not in text.lower()


# --- validators and cost ------------------------------------------------------------------

@pytest.mark.parametrize("path", [MANIFEST, "/fhir/Location.ndjson", "/fhir/Practitioner.ndjson",
                                  "/fhir/Schedule.ndjson", "/fhir/Slot.ndjson"])
def test_conditional_requests_get_304_without_a_body(agenda, path):
    first = get(path)
    assert first.status_code == 200
    etag, last_modified = first["ETag"], first["Last-Modified"]
    assert re.fullmatch(r'"[a-z]+-[0-9a-f]{32}"', etag)
    assert first["Cache-Control"] == "public, max-age=300"
    again = get(path, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and content(again) == b""
    assert again["ETag"] == etag and again["Last-Modified"] == last_modified
    assert get(path, HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304
    assert get(path, HTTP_IF_NONE_MATCH='"slot-00000000000000000000000000000000"').status_code == 200
    # If-None-Match wins over a matching date.
    assert get(path, HTTP_IF_NONE_MATCH='"other"', HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 200


def test_a_booking_a_cancellation_or_a_phone_change_changes_the_slot_validators(agenda):
    first = get("/fhir/Slot.ndjson")
    etag, manifest_etag = first["ETag"], get(MANIFEST)["ETag"]
    target = agenda["free"][1]
    rdv = f.rendezvous(agenda["patients"][0], target)
    booked = get("/fhir/Slot.ndjson", HTTP_IF_NONE_MATCH=etag)
    assert booked.status_code == 200 and target.pk not in {int(s["id"]) for s in lines(booked)}
    assert booked["ETag"] != etag
    assert parse_http(booked["Last-Modified"]) >= parse_http(first["Last-Modified"])
    assert get(MANIFEST, HTTP_IF_NONE_MATCH=manifest_etag).status_code == 200
    # Cancelled: the slot is back, and a client holding the booked state refetches.
    RendezVous.objects.filter(pk=rdv.pk).update(statut=StatutRendezVous.ANNULE, annule_at=timezone.now())
    back = get("/fhir/Slot.ndjson", HTTP_IF_NONE_MATCH=booked["ETag"])
    assert back.status_code == 200 and target.pk in {int(s["id"]) for s in lines(back)}
    # ...even by date alone: each new content is dated after the one before.
    assert get("/fhir/Slot.ndjson", HTTP_IF_MODIFIED_SINCE=booked["Last-Modified"]).status_code == 200
    # The practice's phone is in every slot (booking-phone).
    etag = back["ETag"]
    Cabinet.objects.filter(pk=agenda["lyon"].pk).update(telephone="04 78 11 11 11")
    assert get("/fhir/Slot.ndjson", HTTP_IF_NONE_MATCH=etag).status_code == 200


def parse_http(value: str) -> datetime:
    from django.utils.http import parse_http_date

    return datetime.fromtimestamp(parse_http_date(value), UTC)


@pytest.mark.parametrize("kind", ["Location", "Slot"])
def test_files_are_gzipped_for_clients_that_accept_it(agenda, kind):
    path = f"/fhir/{kind}.ndjson"
    plain = get(path)
    packed = get(path, HTTP_ACCEPT_ENCODING="deflate, gzip;q=1.0")
    assert packed.status_code == 200 and packed["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain
    assert "Accept-Encoding" in packed["Vary"] and "Accept-Encoding" in plain["Vary"]
    assert gzip.decompress(content(packed)) == content(plain)
    assert packed["ETag"] == f"W/{plain['ETag']}"
    # Either form of the tag matches, whichever encoding is asked.
    for tag in (plain["ETag"], packed["ETag"]):
        assert get(path, HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=tag).status_code == 304
        assert get(path, HTTP_IF_NONE_MATCH=tag).status_code == 304
    assert "Content-Encoding" not in get(MANIFEST, HTTP_ACCEPT_ENCODING="gzip")  # a few hundred bytes


def test_head_answers_the_headers_only(agenda):
    response = Client().head("/fhir/Slot.ndjson")
    assert response.status_code == 200 and response.content == b""
    assert response["ETag"] == get("/fhir/Slot.ndjson")["ETag"]


def test_the_slot_file_is_streamed(agenda):
    response = get("/fhir/Slot.ndjson")
    assert isinstance(response, StreamingHttpResponse)


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_slot_file_streams_the_same_lines():
    """Through Django's ASGI handler (an async iterator, rendered off the event loop)."""
    from asgiref.sync import sync_to_async

    @sync_to_async
    def setup() -> tuple[set[int], bytes]:
        med = f.medecin(f.cabinet(code_postal="69001", telephone="04 00 00 00 00"))
        start = f.future(24)
        Creneau.objects.bulk_create([  # three chunks of the stream
            Creneau(medecin=med, debut=start + timedelta(minutes=20 * i), fin=start + timedelta(minutes=20 * i + 20))
            for i in range(1200)])
        ids = set(Creneau.objects.filter(medecin=med).values_list("pk", flat=True))
        return ids, content(Client().get("/fhir/Slot.ndjson"))

    try:
        expected, wsgi_body = await setup()
        response = await AsyncClient().get("/fhir/Slot.ndjson")
        assert response.status_code == 200 and response.streaming
        body = b"".join([chunk async for chunk in response.streaming_content])
    finally:  # the view's and the setup's connection, on asgiref's thread
        await sync_to_async(connections.close_all)()
    assert body == wsgi_body
    assert {int(json.loads(line)["id"]) for line in body.splitlines()} == expected


def test_queries_are_bounded_whatever_the_number_of_slots(agenda, django_assert_max_num_queries):
    for med in (agenda["martin"], agenda["bernard"], agenda["petit"]):
        Creneau.objects.bulk_create([
            Creneau(medecin=med, debut=f.future(100 + i), fin=f.future(100 + i, minutes=20)) for i in range(150)])
    with django_assert_max_num_queries(2):  # doctors, slots
        assert len(lines(get("/fhir/Slot.ndjson"))) == 5 + 450
    with django_assert_max_num_queries(3):  # practices, doctors, slots
        assert get(MANIFEST).status_code == 200
    with django_assert_max_num_queries(1):
        assert len(lines(get("/fhir/Schedule.ndjson"))) == 3
    with django_assert_max_num_queries(1):
        assert len(lines(get("/fhir/Location.ndjson"))) == 2


# --- anyone may read; refusals ------------------------------------------------------------

def test_anyone_may_read_and_credentials_are_not_consulted(agenda):
    assert get(MANIFEST).status_code == 200
    assert get("/fhir/Slot.ndjson", HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 200


def test_pages_of_any_origin_may_fetch_the_files(agenda):
    for path in (MANIFEST, "/fhir/Slot.ndjson"):
        response = get(path, HTTP_ORIGIN="https://portail.example.org")
        assert response["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in response
        again = get(path, HTTP_ORIGIN="https://portail.example.org", HTTP_IF_NONE_MATCH=response["ETag"])
        assert again.status_code == 304 and again["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_other_methods_are_a_json_405_and_change_nothing(agenda, method):
    with unchanged():
        for path in (MANIFEST, "/fhir/Slot.ndjson"):
            response = getattr(Client(), method)(path, data="{}", content_type="application/json")
            assert_error(response, 405, "method_not_allowed")
            assert response["Allow"] == "GET, HEAD"


def test_unknown_files_are_a_json_404(agenda):
    for path in ("/fhir/Patient.ndjson", "/fhir/Slot.json", "/fhir/bulk-publish", "/fhir/"):
        assert_error(get(path), 404, "not_found")


def test_reading_is_throttled_per_client_ip(agenda, settings):
    rest = copy.deepcopy(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"]["fhir_publication"] = "3/min"
    settings.REST_FRAMEWORK = rest
    for path in (MANIFEST, "/fhir/Location.ndjson", "/fhir/Slot.ndjson"):
        assert get(path, REMOTE_ADDR="203.0.113.7").status_code == 200
    refused = get("/fhir/Slot.ndjson", REMOTE_ADDR="203.0.113.7")
    data = assert_error(refused, 429, "throttled")
    assert data["details"] == {"retry_after": int(refused["Retry-After"])}
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert get(MANIFEST, REMOTE_ADDR="203.0.113.8").status_code == 200  # another client


# --- through a real daphne process ---------------------------------------------------------

def test_a_real_server_streams_valid_files_and_answers_304(live):
    """The demo data through daphne (the serving handler, the async stream, the cache)."""
    import http.client

    port = int(urlsplit(live.url).port)

    def fetch(path: str, **headers) -> tuple[http.client.HTTPResponse, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response, response.read()
        finally:
            conn.close()

    response, raw = fetch(MANIFEST)
    assert response.status == 200 and response.getheader("Content-Type") == "application/json"
    data = json.loads(raw)
    assert data["request"] == f"{live.url}{MANIFEST}"
    by_type = {item["type"]: item["url"] for item in data["output"]}
    assert set(by_type) == set(MODELS)
    for kind, url in by_type.items():
        assert url.startswith(live.url)
        response, raw = fetch(urlsplit(url).path)
        assert response.status == 200 and response.getheader("Content-Type") == "application/fhir+ndjson"
        resources = [json.loads(line) for line in raw.decode().splitlines()]
        assert resources, kind  # the demo has a practice, doctors and generated free slots
        for resource in resources:
            MODELS[kind].parse_obj(resource)
        if kind == "Slot":
            assert response.getheader("Transfer-Encoding") == "chunked"  # streamed, no Content-Length
            packed, compressed = fetch("/fhir/Slot.ndjson", **{"Accept-Encoding": "gzip"})
            assert packed.getheader("Content-Encoding") == "gzip"
            assert gzip.decompress(compressed) == raw and len(compressed) < len(raw) / 5
            assert all(r["status"] == "free" for r in resources)
            etag = response.getheader("ETag")
            again, body = fetch("/fhir/Slot.ndjson", **{"If-None-Match": etag})
            assert again.status == 304 and body == b"" and again.getheader("ETag") == etag
