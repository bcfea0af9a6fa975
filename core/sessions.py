"""Django's database sessions, refusing a session cookie no session can have: Django's keys are lowercase ASCII
letters and digits, and a key holding anything else (a NUL, which PostgreSQL text cannot hold, would fail the lookup
as a database error) is treated as no session at all — the request is anonymous (a 401 on the API, the login page in
the admin), as with an expired session."""

from __future__ import annotations

from django.contrib.sessions.backends import db


class SessionStore(db.SessionStore):
    def _validate_session_key(self, key):
        return bool(super()._validate_session_key(key)) and key.isascii() and key.isalnum()
