"""The audit trail's context: who made a change, and how, on every event row the tracking triggers write.

Tracking itself is PostgreSQL's (django-pghistory; each app declares its tracked models in ``models/audit.py`` with
``core.models.tracked``): a trigger copies the row into the model's event table on every insert, update and delete,
whatever wrote it — a service's ``save()``, a queryset ``.update()``, raw SQL. What a trigger cannot know is the
context, so pghistory sends it ahead of each SQL statement while a context is open (``set_config(…, true)``: local
to the transaction, never left on a pooled connection) and the trigger copies it into the event's ``pgh_context``.

The context is a JSON object; its keys, each present when known:

- ``user`` (id) and ``username``: who. A request's authenticated user — the admin's session user from the start of
  the request (``AuditContextMiddleware``), an API token's user as soon as DRF has authenticated it
  (``core.api.authentication`` calls :func:`note_actor`); a command's ``--user`` when it names one; a Celery task
  carries the user of the request or command that queued it (a message header, :data:`ACTOR_HEADER`).
- ``via``: how — ``request``, ``command`` or ``task``; with ``method`` and ``path`` for a request, ``command`` (its
  name) and ``os_user`` (the operating-system login that ran it) for a management command, ``task`` (its name) for
  a Celery task. An eager task (in-process) keeps its caller's context and adds its ``task``.

A change made with no context open (a Django shell, ``migrate``, ``manage.py bench``'s scratch databases) still gets
its event, with ``pgh_context`` NULL: nothing escapes the triggers, only the attribution is missing.
"""

from __future__ import annotations

import getpass
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

import pghistory
from django.db import connection
from pghistory import runtime as pghistory_runtime
from psycopg.pq import TransactionStatus

# The Celery message header that carries the queuing context's who and how to the worker.
ACTOR_HEADER = "ibex_audit_actor"
# What of a context a queued task carries (its own ``via`` and ``task`` are the worker's).
_CARRIED = ("user", "username", "via", "method", "path", "command", "os_user")
_WRITE_WORDS = re.compile(r"\b(insert|update|delete|merge)\b", re.IGNORECASE)


def actor(user) -> dict[str, Any]:
    """The ``user`` and ``username`` keys for ``user`` (nothing for an anonymous or missing user)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return {}
    return {"user": user.pk, "username": user.get_username()}


def current_context() -> Mapping[str, Any] | None:
    """The open context's metadata (read-only use), or None when no context is open on this thread."""
    tracker = getattr(pghistory_runtime._tracker, "value", None)
    return None if tracker is None else tracker.metadata


@contextmanager
def audit_context(**metadata: Any) -> Iterator[None]:
    """Attribute the changes made inside the block to ``metadata`` (keys: see the module docstring; None values are
    left out). Nested, it adds its keys to the open context for the block and restores the context afterwards
    (pghistory's own nesting keeps whatever an inner block added)."""
    metadata = {key: value for key, value in metadata.items() if value is not None}
    opened = current_context()
    if opened is not None:
        # pghistory serialises this very dict ahead of each statement: edit it in place, then put it back.
        saved = dict(opened)
        opened.update(metadata)  # type: ignore[attr-defined]
        try:
            yield
        finally:
            opened.clear()  # type: ignore[attr-defined]
            opened.update(saved)  # type: ignore[attr-defined]
        return
    prefixing = _StatementPrefixing()
    try:
        # The outer wrapper runs first: it hands pghistory's injection a statement it can prefix.
        with connection.execute_wrapper(prefixing), pghistory.context(**metadata):
            yield
    finally:
        if prefixing.sent:
            _forget_context()


def note_actor(user) -> None:
    """Name ``user`` as who makes the open context's changes from now on (no-op without a context or a user)."""
    opened = current_context()
    who = actor(user)
    if opened is not None and who:
        opened.update(who)  # type: ignore[attr-defined]


class _StatementPrefixing:
    """Makes a statement safe for pghistory's prefix (``SELECT set_config(%s, %s, true); <statement>`` with two
    parameters added), and notes whether any statement that may write got it:

    - a ``psycopg.sql.Composable`` (the line store's and the scratch helpers' DDL) becomes its text — pghistory
      reads the statement as a string;
    - a statement sent without parameters gets its ``%`` doubled when pghistory will prefix it: with parameters
      added, psycopg reads every ``%`` of the text as a placeholder.
    """

    sent = False

    def __call__(self, execute, sql, params, many, context):
        if not isinstance(sql, (str, bytes)) and hasattr(sql, "as_string"):
            sql = sql.as_string(context["cursor"].cursor)
        if isinstance(sql, str) and pghistory_runtime._can_inject_variable(context["cursor"], sql):
            self.sent = self.sent or _may_write(sql)
            if params is None and not many and "%" in sql:
                sql, params = sql.replace("%", "%%"), ()
        return execute(sql, params, many, context)


def _may_write(sql: str) -> bool:
    """Whether a statement pghistory prefixes may change a row: anything but a ``WITH`` query that names no write
    (pghistory prefixes every ``WITH``, as one may hold an UPDATE; a tree's recursive read does not)."""
    return sql.lstrip()[:4].lower() != "with" or bool(_WRITE_WORDS.search(sql))


def _forget_context() -> None:
    """The context's settings are local to the transaction: once the context is closed, a transaction that goes on
    (a test's, a caller's ``atomic``) must not lend them to its later changes. One statement, and only when the
    context sent its settings with a statement that may write, into a transaction still open (a request in
    autocommit mode has committed already; a context that only read costs nothing — a change made later in the same
    transaction, outside any context, would then carry the reader's context)."""
    if not connection.in_atomic_block or connection.needs_rollback:
        return
    if connection.connection.info.transaction_status == TransactionStatus.INERROR:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('pghistory.context_id', '', true), set_config('pghistory.context_metadata', '', true)"
        )


class AuditContextMiddleware:
    """Each request's changes are the request's: ``via=request``, its method and path, and its user — the
    session's from the start, or an API token's once DRF authenticates it (``core.api.authentication``; a request
    with a token leaves the session alone: reading its user here would cost the session's queries for nothing)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with_token = request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("token ")
        who = {} if with_token else actor(request.user)
        with audit_context(via="request", method=request.method, path=request.path, **who):
            return self.get_response(request)


def os_login() -> str | None:
    """The operating-system login running this process, when the system can say."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry and no LOGNAME/USER
        return os.environ.get("USER") or None


# Celery: a task's context is opened when it starts and closed when it ends, on the worker's thread.
_open_tasks = threading.local()


def _task_contexts() -> dict[str, ExitStack]:
    if not hasattr(_open_tasks, "stacks"):
        _open_tasks.stacks = {}
    return _open_tasks.stacks


def carry_actor(headers: dict | None = None, **_: Any) -> None:
    """``before_task_publish``: a queued task carries who queued it, and how."""
    opened = current_context()
    if headers is not None and opened:
        headers[ACTOR_HEADER] = {key: opened[key] for key in _CARRIED if key in opened}


def _carried(task) -> dict[str, Any]:
    request = getattr(task, "request", None)
    carried = getattr(request, ACTOR_HEADER, None)
    if carried is None:
        carried = (getattr(request, "headers", None) or {}).get(ACTOR_HEADER)
    return dict(carried) if isinstance(carried, Mapping) else {}


def task_started(task_id: str | None = None, task=None, **_: Any) -> None:
    """``task_prerun``: open the task's context — its caller's (eager) plus its name, or on a worker ``via=task``
    with its name and whoever queued it."""
    stack = ExitStack()
    name = getattr(task, "name", None)
    if current_context() is not None:
        stack.enter_context(audit_context(task=name))
    else:
        carried = _carried(task)
        queued_via = carried.pop("via", None)
        stack.enter_context(audit_context(**carried, via="task", task=name, queued_via=queued_via))
    _task_contexts()[task_id or ""] = stack


def task_finished(task_id: str | None = None, **_: Any) -> None:
    """``task_postrun``: close the task's context."""
    stack = _task_contexts().pop(task_id or "", None)
    if stack is not None:
        stack.close()


def connect_celery_signals() -> None:
    from celery import signals

    signals.before_task_publish.connect(carry_actor, dispatch_uid="ibex-audit-carry-actor", weak=False)
    signals.task_prerun.connect(task_started, dispatch_uid="ibex-audit-task-started", weak=False)
    signals.task_postrun.connect(task_finished, dispatch_uid="ibex-audit-task-finished", weak=False)
