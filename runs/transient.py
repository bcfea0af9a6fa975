"""Which errors are worth retrying: the database being briefly unavailable or refusing a transaction it would accept
a moment later (a lost connection, a restart, a deadlock, a serialization failure, a lock or statement timeout).
Anything else is a property of the data or the code and fails the chunk (or the run) with its reason."""

from __future__ import annotations

import psycopg
from django.db import InterfaceError, OperationalError

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS)
