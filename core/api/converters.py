"""The ``<key:login>`` / ``<key:ticket>`` path converter: a login or a ticket of at most 18 digits
(``core.names.MAX_LOGIN``/``MAX_TICKET``, the trade feed's rule). A longer one matches no route — a 404, as for any
account or trade that cannot exist — instead of reaching the database as an integer beyond bigint (a 500). The
schema documents the bound (``PATH_CONVERTER_OVERRIDES`` in the settings, from ``KEY_SCHEMA``)."""

from __future__ import annotations

from django.urls import register_converter

from core.names import KEY_DIGITS, MAX_LOGIN

# Not after a digit: after ``<path:server>/`` the path converter could otherwise take the first digits of a 19-digit
# login into the server name and leave 18 here.
KEY_REGEX = rf"(?<![0-9])[0-9]{{1,{KEY_DIGITS}}}"
KEY_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_LOGIN}


class KeyConverter:
    regex = KEY_REGEX

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(int(value))


register_converter(KeyConverter, "key")
