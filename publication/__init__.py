"""Slots published to other systems: SMART Scheduling Links (HL7 FHIR R4) under ``/fhir/``.

A booking portal or an aggregator polls ``GET /fhir/$bulk-publish`` (the manifest) and
fetches the NDJSON files it lists: ``Location`` (practices), ``Practitioner`` and
``Schedule`` (doctors) and ``Slot`` (free slots of the coming weeks, each with a booking
deep link into the web front and the practice's phone). Read-only, anonymous, no patient
data: the files are built from practices, doctors and slots only.
"""
