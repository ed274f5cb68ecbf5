"""The API router: one rule for ids in URLs, for every viewset."""

from __future__ import annotations

from django.urls import register_converter
from rest_framework.routers import DefaultRouter

from .fields import MAX_ID

# Ids in URLs: every viewset's detail routes (and their actions, e.g.
# /api/conversations/{id}/messages/) take ``<id:pk>``.


class IdConverter:
    """A whole number within BIGINT range; anything else does not match the route (JSON 404).

    Before, any text reached ``get_object``: ``9223372036854775808`` overflowed SQLite's
    integer binding (a 500) and each view had to guard its own lookups.
    """

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError("id out of range")
        return number

    def to_url(self, value) -> str:
        return str(value)


# Once, on import: the router's routes and plain ``path("…/<id:pk>/")`` routes (e.g.
# rendezvous/api_agenda.py) use it alike.
register_converter(IdConverter, "id")


class Router(DefaultRouter):
    """DRF's router with Django path converters; lookups use ``IdConverter`` by default.

    A viewset can still name another converter with ``lookup_value_converter``.
    """

    def __init__(self) -> None:
        super().__init__(trailing_slash=True, use_regex_path=False)
        self.include_root_view = False

    def get_lookup_regex(self, viewset, lookup_prefix: str = "") -> str:
        lookup_field = getattr(viewset, "lookup_field", "pk")
        kwarg = getattr(viewset, "lookup_url_kwarg", None) or lookup_field
        converter = getattr(viewset, "lookup_value_converter", None) or "id"
        return f"<{converter}:{lookup_prefix}{kwarg}>"
