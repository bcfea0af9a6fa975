"""The reconciliation check registry: every figure finance must be able to prove for a period, as checks that apps
register at start-up (like ``runs.registry``'s run kinds).

The ledger sits below the apps whose money it holds (commissions, MAM fees, payouts), so it cannot read their lines:
it defines what a check is and what a result looks like, registers its own checks (the trial balance, payable
postings no check reconciles), and each upper app registers the checks of its own data in its ``AppConfig.ready``
(commissions: trades vs lines, lines vs postings; mam: fee lines vs postings). ``PAYOUTS_CHECK`` names the check
payout batches register (payouts vs payable): one ``register`` call, nothing else to change here.

A check reads only (selectors, set-based SQL) and returns typed ``Row``s: a figure (counts, lots, an expected and an
actual amount) with its status and, for a difference, the rows behind it (``Evidence``: which trade, line, run or
transaction). A difference is never netted away: each is its own row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

from core.vocabulary import Vocabulary

# The name the payouts-vs-payable check registers under (the payout batches' extension point, filled by them).
PAYOUTS_CHECK = "payouts"
# How many evidence rows a flagged row lists (with its count beside them: a million-line difference is named by its
# group and its first rows, not dumped).
EVIDENCE_LIMIT = 50


class Status(Vocabulary):
    OK = "ok", "OK"
    DIFFERENCE = "difference", "Difference"


class EvidenceType(Vocabulary):
    """What an evidence row's ``id`` is the id of (README "Reconciliation"); its label names it by natural key."""

    TRADE = "trade", "Trade version"  # label server#ticket vN
    COMMISSION_LINE = "commission_line", "Commission (attribution) line"  # label server#ticket vN kind
    FEE_LINE = "fee_line", "MAM fee line"  # label server:login kind
    PAYOUT_ITEM = "payout_item", "Payout item"  # a payout line's item (a payable leg it pays)
    RUN = "run", "Run"
    TRANSACTION = "transaction", "Journal transaction"  # label its source key
    ACCOUNT = "account", "Ledger account"


@dataclass(frozen=True)
class Evidence:
    """One row behind a figure: its type and id, a label a person can look up (a source key, a ticket…) and, where
    it has one, its amount."""

    type: EvidenceType
    id: int
    label: str = ""
    amount: Decimal | None = None


@dataclass(frozen=True)
class Row:
    """One figure of a check. ``subject`` and ``detail`` say what it counts (``excluded`` / ``no_ib``; a beneficiary
    / a kind), ``count`` and ``lots`` how many, ``expected`` what the source says (lines rounded as the posting
    rounds them; zero for a trial balance) and ``actual`` what the journal holds."""

    subject: str
    status: Status = Status.OK
    detail: str = ""
    currency: str = ""
    count: int | None = None
    lots: Decimal | None = None
    expected: Decimal | None = None
    actual: Decimal | None = None
    evidence: tuple[Evidence, ...] = ()
    evidence_total: int | None = None  # how many evidence rows there are in all (``evidence`` lists the first ones)
    note: str = ""

    @property
    def difference(self) -> Decimal | None:
        if self.expected is None or self.actual is None:
            return None
        return self.actual - self.expected


@dataclass(frozen=True)
class CheckResult:
    name: str
    label: str
    area: str
    rows: tuple[Row, ...] = ()
    note: str = ""

    @property
    def status(self) -> Status:
        return Status.DIFFERENCE if any(r.status == Status.DIFFERENCE for r in self.rows) else Status.OK

    @property
    def differences(self) -> list[Row]:
        return [r for r in self.rows if r.status == Status.DIFFERENCE]


@dataclass(frozen=True)
class Reconciliation:
    period: str
    checks: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def status(self) -> Status:
        return Status.DIFFERENCE if any(c.status == Status.DIFFERENCE for c in self.checks) else Status.OK


class ReconciliationCheck(ABC):
    """A check of one period. ``area`` groups checks for the period/kind form (``ledger``, a run kind such as
    ``commissions`` or ``fees``, ``payouts``); ``journal_kinds`` are the journal transaction kinds whose payable
    postings the check reconciles (the ledger flags payable postings of any other kind: nothing escapes unseen)."""

    name: ClassVar[str]
    label: ClassVar[str]
    area: ClassVar[str]
    order: ClassVar[int] = 100
    journal_kinds: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def rows(self, *, period: str) -> Sequence[Row]:
        """The check's figures for ``period`` (``YYYY-MM``, already validated)."""

    def note(self, *, period: str) -> str:
        """What the figures are of (e.g. which run), shown above them."""
        return ""


_CHECKS: dict[str, ReconciliationCheck] = {}


def register(check: ReconciliationCheck) -> ReconciliationCheck:
    """Register ``check`` under its name (from its app's ``AppConfig.ready``); the same class again is a no-op, a
    different check under a taken name a programming error."""
    current = _CHECKS.get(check.name)
    if current is not None and type(current) is not type(check):
        raise RuntimeError(f"reconciliation check {check.name!r} is already registered by {type(current).__qualname__}")
    _CHECKS[check.name] = check
    return check


def unregister(name: str) -> None:
    """For tests that register a check of their own."""
    _CHECKS.pop(name, None)


def registered_checks() -> list[ReconciliationCheck]:
    return sorted(_CHECKS.values(), key=lambda c: (c.order, c.name))


def areas() -> list[str]:
    return sorted({c.area for c in _CHECKS.values()})


def reconciled_journal_kinds() -> frozenset[str]:
    """Every journal kind some registered check reconciles."""
    return frozenset().union(*(c.journal_kinds for c in _CHECKS.values()))


def reconcile(*, period: str, areas: Iterable[str] | None = None) -> Reconciliation:
    """Run the registered checks (of ``areas``, default all) for ``period``; read-only."""
    wanted = None if areas is None else set(areas)
    results = []
    for check in registered_checks():
        if wanted is not None and check.area not in wanted:
            continue
        rows = tuple(check.rows(period=period))
        results.append(
            CheckResult(name=check.name, label=check.label, area=check.area, rows=rows, note=check.note(period=period))
        )
    return Reconciliation(period=period, checks=tuple(results))
