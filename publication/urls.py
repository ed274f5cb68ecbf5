"""``/fhir/``: the SMART Scheduling Links manifest and its files (outside ``/api/``)."""

from django.urls import path

from . import fhir, views

urlpatterns = [
    path("$bulk-publish", views.manifest, name="fhir-bulk-publish"),
    *(path(f"{kind}.ndjson", views.resource_file, {"kind": kind}, name=f"fhir-{kind.lower()}")
      for kind in fhir.TYPES),
]
