"""Input bounds shared by every app: values the database and Python can hold, else a 400.

A date like ``0001-01-01`` (or ``9999-12-31T23:59:59``) is a valid ``datetime`` until it
is converted to UTC for the query, where it overflows (a 500). Every date filter and
every date field of the API uses the bounded fields below instead.
"""

from __future__ import annotations

from datetime import date, datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from rest_framework import serializers

MAX_ID = 2**63 - 1  # BIGINT: the primary keys' type

DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(2999, 12, 31)
DATE_RANGE_MESSAGE = f"Date hors de la plage acceptée ({DATE_MIN.isoformat()} – {DATE_MAX.isoformat()})."


def validate_date_range(value: date | datetime) -> None:
    """Between 1900 and 2999: far from datetime's limits whatever the time zone."""
    day = value.date() if isinstance(value, datetime) else value
    if not DATE_MIN <= day <= DATE_MAX:
        raise ValidationError(DATE_RANGE_MESSAGE, code="date_range")


class BoundedDateTimeFormField(forms.DateTimeField):
    default_validators = [validate_date_range]


class IdFilter(django_filters.NumberFilter):
    """An id in a query string: a whole number within the database's range, else a 400.

    ``NumberFilter`` parses a Decimal, so ``1.5`` matched id 1 and a huge number crashed
    SQLite (OverflowError, a 500).
    """

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class BoundedDateTimeFilter(django_filters.DateTimeFilter):
    """A date filter (``?date_from=``): out of range is a 400 ``validation_error``."""

    field_class = BoundedDateTimeFormField


class BoundedDateTimeField(serializers.DateTimeField):
    """A date in a request body: out of range is a 400 on the field.

    Checked before the time zone is applied: DRF's own check of a naive
    ``0001-01-01T00:00`` made aware in Europe/Paris overflows (a 500, found by
    tests/test_api_schemathesis.py).
    """

    def enforce_timezone(self, value: datetime) -> datetime:
        try:
            validate_date_range(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages, code="date_range") from exc
        return super().enforce_timezone(value)
