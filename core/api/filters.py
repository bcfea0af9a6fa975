"""Query filters shared by the list endpoints."""

from __future__ import annotations

import re

import django_filters
from django import forms
from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field

from core.names import MAX_LOGIN, MAX_TICKET, server_name_error
from core.periods import PERIOD_PATTERN, Period

MAX_BIGINT = 2**63 - 1
_INTEGER = re.compile(r"-?[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _document(instance: django_filters.Filter, schema: dict) -> None:
    """Give one filter its schema (drf-spectacular reads it from the filter, never from its form field, and takes
    the description from it too): ``schema`` with the filter's ``help_text``."""
    help_text = instance.extra.get("help_text")
    extend_schema_field({**schema, "description": help_text} if help_text else schema)(instance)


TRUE_FALSE_SCHEMA = {"type": "string", "enum": ["true", "false"]}


class TrueFalseFilter(django_filters.ChoiceFilter):
    """``true`` or ``false`` and nothing else (django-filter's BooleanFilter quietly ignores typos); documented as
    that string enum whatever the field it filters (a nullable relation, a boolean column), so a generated client
    sends exactly what it accepts."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        super().__init__(*args, **kwargs)
        _document(self, TRUE_FALSE_SCHEMA)

    def filter(self, qs, value):
        if value in ("", None):
            return qs
        return super().filter(qs, value == "true")


class IntegerFormField(forms.IntegerField):
    """An integer written in ASCII digits, as the schema's ``integer`` says: Django's field also takes ``1.0`` and
    other scripts' digits (``int("١٢")`` is 12), which a generated client never sends and a typo should not match."""

    def to_python(self, value):
        if value not in self.empty_values and not _INTEGER.fullmatch(str(value)):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class DateFormField(forms.DateField):
    """A date as ``YYYY-MM-DD`` in ASCII digits, as the schema's ``format: date`` says (Django's field also takes
    other scripts' digits, and Python's ISO parser ``20260310`` and week dates such as ``2026-W11-1``)."""

    def to_python(self, value):
        if value not in self.empty_values and not _DATE.fullmatch(str(value)):
            raise forms.ValidationError("Enter a date as YYYY-MM-DD.", code="invalid")
        return super().to_python(value)


class DateFilter(django_filters.DateFilter):
    field_class = DateFormField


class PeriodFormField(forms.CharField):
    """A period ``YYYY-MM`` under ``core.periods``' rule (1970-01 to 2999-12), as every other door takes it: a typo
    is a 400, not a filter that silently matches nothing (blanks are not trimmed: the pattern has none)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return text
        try:
            return Period.parse(text, settings.IBEX_SERVER_TIME_ZONE).label
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc


class PeriodFilter(django_filters.CharFilter):
    field_class = PeriodFormField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _document(self, {"type": "string", "pattern": PERIOD_PATTERN, "example": "2026-03"})


class IntegerFilter(django_filters.NumberFilter):
    """An integer (django-filter's NumberFilter takes decimals); bounded to the column's range so a huge number is
    a field error, not a database error."""

    field_class = IntegerFormField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", -MAX_BIGINT - 1)
        kwargs.setdefault("max_value", MAX_BIGINT)
        super().__init__(*args, **kwargs)


def _bounded(maximum: int, **kwargs) -> IntegerFilter:
    """An integer filter from 0 to ``maximum``, documented with those bounds."""
    bounded = IntegerFilter(min_value=0, max_value=maximum, **kwargs)
    _document(bounded, {"type": "integer", "minimum": 0, "maximum": maximum})
    return bounded


def login_filter(**kwargs) -> IntegerFilter:
    """A login filter: 0 to ``core.names.MAX_LOGIN``, the bound every door takes (a larger one is a 400)."""
    return _bounded(MAX_LOGIN, **kwargs)


def ticket_filter(**kwargs) -> IntegerFilter:
    """A ticket filter: 0 to ``core.names.MAX_TICKET``, the bound every door takes (a larger one is a 400)."""
    return _bounded(MAX_TICKET, **kwargs)


ACCOUNT_KEY_SCHEMA = {
    "type": "string",
    "pattern": r"^.+:[0-9]+$",
    "example": "live1:1001",
    "description": "the client account as server:login (the login is what follows the last colon), e.g. live1:1001",
}


class AccountKeyFormField(forms.CharField):
    """An account by its natural key, ``server:login`` (the login is what follows the last colon)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("strip", False)  # the server part is checked as it was sent (core.names)
        super().__init__(**kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        if "\x00" in text:  # checked here: the validators that refuse it see the parsed (server, login) pair
            raise forms.ValidationError("Null characters are not allowed.")
        server, sep, login = text.rpartition(":")
        if not sep or not server or not login.isascii() or not login.isdigit() or int(login) > MAX_LOGIN:
            raise forms.ValidationError("Give the account as server:login, e.g. live1:1001.")
        if server_name_error(server):
            raise forms.ValidationError(server_name_error(server))
        return server, int(login)


class AccountKeyFilter(django_filters.Filter):
    """``?account=server:login`` on the relation ``field_name`` (anything with ``server`` and ``login``),
    documented as that string."""

    field_class = AccountKeyFormField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _document(self, ACCOUNT_KEY_SCHEMA)

    def filter(self, qs: QuerySet, value):
        if not value:
            return qs
        server, login = value
        return qs.filter(**{f"{self.field_name}__server": server, f"{self.field_name}__login": login})


class ServerNameFormField(forms.CharField):
    """A server name under the one rule (``core.names``); a NUL keeps its own message (checked first)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value not in (None, "") and server_name_error(value):
            raise forms.ValidationError(server_name_error(value))
        return value


class ServerFilter(django_filters.CharFilter):
    """``?server=``: a server name, or a 400 naming it (no server could match anything else)."""

    field_class = ServerNameFormField
