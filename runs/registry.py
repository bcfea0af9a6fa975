"""The kind registry: one ``Run`` model, one ``RunKind`` per computation, registered by its app at start-up (NetBox's
job model, job runners and registry).

A kind supplies the hooks the framework calls; the framework never branches on a kind's name:

- ``take_snapshot(run)`` fixes what the run will read, in a short transaction of its own when the run starts;
- ``plan_chunks(run)`` splits the work into typed chunk specs (each with the rows it expects to read);
- ``prepare(run)`` computes the period-wide context every chunk shares (e.g. tier volumes), when the run starts;
- ``compute_chunk(run, spec)`` returns one chunk's lines as a DataFrame of ``line_columns`` (stored form), which the
  framework COPYs into the run's own table of ``line_table`` — by default ``line_model``'s table, partitioned by
  run (``runs.line_store``);
- ``chunk_totals(lines)`` sums a chunk's lines by ``total_by`` (the run's totals are the chunks' sums);
- ``postings(run)`` says what approval posts through the ledger's posting API;
- ``discard(run)`` drops kind-owned context of a run that failed or was superseded.

A kind raises ``ChunkFailure`` (with mergeable ``details``) for data problems, so a run that fails lists every
problem of every chunk (e.g. all the missing conversion rates), not only the first chunk's.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.db import models

from core.exact import INT64_MAX, max_abs
from core.exceptions import ApplicationError
from core.money import LINE_PLACES
from ledger.postings import Posting

from .models import Run


class UnknownRunKind(ApplicationError):
    """A run kind no app registered (e.g. ``fees`` before the MAM app provides it)."""


class ChunkFailure(Exception):
    """A chunk cannot be computed from the data as it is (not a transient error: retrying would not help).

    ``details`` maps a label to the items it lists, e.g. ``{"missing conversion rates (currency, day)": ["EUR
    2026-03-02", …]}``; the failures of all chunks of a run are merged label by label into the run's error."""

    def __init__(self, message: str, *, details: Mapping[str, Sequence[str]] | None = None) -> None:
        super().__init__(message)
        self.details = {label: list(items) for label, items in (details or {}).items()}


@dataclass(frozen=True)
class ChunkSpec:
    """A typed description of one chunk's work. Subclasses are frozen dataclasses of JSON-able fields (ints, strings,
    tuples of them) with a class-level ``type`` that names them in ``RunChunk.spec``."""

    type: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"type": self.type, **{k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}}


@dataclass(frozen=True)
class PlannedChunk:
    spec: ChunkSpec
    size: int = 0  # rows the chunk is expected to read (shown as progress; never trusted for correctness)


@dataclass(frozen=True)
class LateChange:
    """Data a computed run does not include because it arrived after the run read its data (its snapshot): shown,
    with its count, when the run is approved, so nobody approves a period believing it complete."""

    code: str
    count: int
    message: str


class RunKind(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    line_model: ClassVar[type[models.Model]]
    line_columns: ClassVar[tuple[str, ...]]
    spec_types: ClassVar[tuple[type[ChunkSpec], ...]]
    # Whether the kind computes parts of a period separately (``scope``, e.g. one MAM group). A run of the whole period
    # (scope "") overlaps every scoped run of it; a kind without scopes refuses any.
    scoped: ClassVar[bool] = False
    # How chunk totals are summed: integer column at ``total_scale`` decimal places, grouped by ``total_by``.
    total_column: ClassVar[str] = "amount_micros"
    total_scale: ClassVar[int] = LINE_PLACES
    total_by: ClassVar[str] = "kind"

    def check_scope(self, scope: str) -> None:
        """Refuse a scope the kind does not compute (a kind with scopes checks the value itself)."""
        if scope and not self.scoped:
            raise ValidationError({"scope": [f"{self.name} runs cover the whole period: they take no scope"]})

    @property
    def line_table(self) -> str:
        """The partitioned (LIST ``run_id``) table the kind's lines are stored in."""
        return self.line_model._meta.db_table

    def take_snapshot(self, run: Run) -> dict[str, Any]:
        return {}

    @abstractmethod
    def plan_chunks(self, run: Run) -> list[PlannedChunk]: ...

    def prepare(self, run: Run) -> None:
        return None

    @abstractmethod
    def compute_chunk(self, run: Run, spec: ChunkSpec) -> pd.DataFrame: ...

    @abstractmethod
    def postings(self, run: Run) -> list[Posting]:
        """The run's money, as ledger postings keyed ``run_source_key(run, ...)`` (approval refuses other keys)."""

    def discard(self, run: Run) -> None:
        return None

    def approving(self, run: Run) -> None:
        """Inside the approval's transaction, once the period is locked and the run posted: the kind's own
        bookkeeping of what the approval settles (default nothing)."""
        return None

    def late_changes(self, run: Run) -> list[LateChange]:
        """What changed under the run since it read its data (only counts > 0)."""
        return []

    def decode_spec(self, data: Mapping[str, Any]) -> ChunkSpec:
        by_type = {spec_type.type: spec_type for spec_type in self.spec_types}
        spec_type = by_type.get(data.get("type", ""))
        if spec_type is None:
            raise ChunkFailure(f"kind {self.name} has no chunk type {data.get('type')!r}")
        values = {}
        for f in dataclasses.fields(spec_type):
            value = data.get(f.name)
            values[f.name] = tuple(value) if isinstance(value, list) else value
        return spec_type(**values)

    def chunk_totals(self, lines: pd.DataFrame) -> dict[str, Decimal]:
        """Exact sums of ``total_column`` by ``total_by`` (in Python ints whenever int64 could overflow)."""
        if lines.empty:
            return {}
        values = lines[self.total_column].to_numpy(dtype=np.int64)
        codes, keys = pd.factorize(lines[self.total_by].to_numpy())
        if max_abs(values) * len(values) > INT64_MAX:
            sums = np.zeros(len(keys), dtype=object)  # a sum that could overflow int64 is taken in Python ints
            np.add.at(sums, codes, values.astype(object))
        else:
            sums = np.zeros(len(keys), dtype=np.int64)
            np.add.at(sums, codes, values)
        return {
            str(key): Decimal(int(total)).scaleb(-self.total_scale)
            for key, total in sorted(zip(keys, sums, strict=True))
        }


_KINDS: dict[str, RunKind] = {}


def run_source_key(run: Run, *parts: object) -> str:
    """The journal key of one of the run's postings: ``run:{pk}:`` then the kind's parts. The framework owns the
    prefix, so everything one run posted is found (and only it) by ``run_source_prefix``."""
    if not parts:
        raise ValueError("a run's source key needs at least one part after the run")
    return ":".join([run_source_prefix(run).rstrip(":"), *map(str, parts)])


def run_source_prefix(run: Run) -> str:
    return f"run:{run.pk}:"


def register(kind: RunKind) -> RunKind:
    """Register ``kind`` under its name (from its app's ``AppConfig.ready``). Registering the same class again is a
    no-op; a different kind under a taken name is a programming error."""
    current = _KINDS.get(kind.name)
    if current is not None and type(current) is not type(kind):
        raise RuntimeError(f"run kind {kind.name!r} is already registered by {type(current).__qualname__}")
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """For tests that register a kind of their own."""
    _KINDS.pop(name, None)


def get_kind(name: str) -> RunKind:
    kind = _KINDS.get(name)
    if kind is None:
        known = ", ".join(sorted(_KINDS)) or "none"
        raise UnknownRunKind(f"unknown run kind {name!r}: the registered kinds are {known}")
    return kind


def kind_names() -> list[str]:
    return sorted(_KINDS)


def kind_choices() -> list[tuple[str, str]]:
    return [(name, _KINDS[name].label) for name in sorted(_KINDS)]
