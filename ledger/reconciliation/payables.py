"""Lines vs journal postings, per (beneficiary, kind, currency): the comparison every run kind's check makes.

A run kind's approval posts, per (beneficiary, kind, currency) — a fee share also per manager — one transaction
whose payable leg is the exact sum of its lines rounded **once**, half-up, to the currency's minor unit
(``ledger.services.posting``). A check describes what its approved runs' lines say would be posted
(``ExpectedPosting``: one per posting, with the exact sum); here each is rounded as the posting rounds it
(``core.money.quantize`` at the ledger's minor unit of the currency), summed per (payable, owner, kind, currency) and
compared with **every** payable leg of the period's transactions of those kinds — whatever their source key, so an
extra posting, a reversal or a missing one all show as a difference, with the transactions and the lines behind it.

Units: amounts are what the broker owes the owner (a payable's credit, negated), exact ``Decimal``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from core.money import quantize
from partners.models import ClientAccount, Partner

from ..models import JournalEntry, JournalTransaction, LedgerAccount
from ..selectors import currency_places
from ..vocabulary import CLIENT_OWNED, Purpose
from .labels import source_labels
from .registry import EVIDENCE_LIMIT, Evidence, EvidenceType, Row, Status

_ENTRIES = JournalEntry._meta.db_table
_TRANSACTIONS = JournalTransaction._meta.db_table
_ACCOUNTS = LedgerAccount._meta.db_table
PAYABLES = (Purpose.PARTNER_PAYABLE, Purpose.CLIENT_PAYABLE, Purpose.MANAGER_PAYABLE)

Key = tuple[str, int | None, str, str]  # (payable purpose, owner id, kind, currency)


@dataclass(frozen=True)
class ExpectedPosting:
    """What one posting of an approved run should credit to a payable: its lines' exact sum (owed to the owner)."""

    run_id: int
    purpose: Purpose
    owner_id: int | None  # the partner, or for a client payable the client account; None: lines with no beneficiary
    kind: str
    currency: str
    lines: int
    owed: Decimal

    @property
    def key(self) -> Key:
        return (str(self.purpose), self.owner_id, self.kind, self.currency)


@dataclass(frozen=True)
class PostedLeg:
    transaction_id: int
    source_key: str
    owed: Decimal


LineEvidence = Callable[[Key, Sequence[ExpectedPosting]], list[Evidence]]


def posted_payables(*, period: str, kinds: Iterable[str]) -> dict[Key, list[PostedLeg]]:
    """Every payable leg of the period's transactions of ``kinds``, per key, by transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT a.purpose, COALESCE(a.partner_id, a.client_account_id), t.kind, t.currency, t.id, t.source_key,
                   SUM(-e.amount)
              FROM {_TRANSACTIONS} t
              JOIN {_ENTRIES} e ON e.transaction_id = t.id
              JOIN {_ACCOUNTS} a ON a.id = e.account_id
             WHERE t.period = %s AND t.kind = ANY(%s) AND a.purpose = ANY(%s)
             GROUP BY a.purpose, 2, t.kind, t.currency, t.id, t.source_key
             ORDER BY t.id
            """,
            [period, sorted(set(kinds)), [str(p) for p in PAYABLES]],
        )
        posted: dict[Key, list[PostedLeg]] = defaultdict(list)
        for purpose, owner, kind, currency, tx_id, source_key, owed in cursor.fetchall():
            posted[(purpose, owner, kind, currency)].append(PostedLeg(tx_id, source_key, Decimal(owed)))
    return posted


def owner_labels(keys: Iterable[Key]) -> dict[tuple[bool, int], str]:
    """(client-owned?, id) → a label a person can look up: the partner's code, or the account's server/login."""
    keys = list(keys)
    partners = {owner for purpose, owner, _, _ in keys if owner is not None and Purpose(purpose) not in CLIENT_OWNED}
    clients = {owner for purpose, owner, _, _ in keys if owner is not None and Purpose(purpose) in CLIENT_OWNED}
    labels: dict[tuple[bool, int], str] = {}
    for pk, code in Partner.objects.filter(pk__in=partners).values_list("pk", "code"):
        labels[(False, pk)] = code
    for pk, server, login in ClientAccount.objects.filter(pk__in=clients).values_list("pk", "server", "login"):
        labels[(True, pk)] = f"{server}/{login}"
    return labels


def subject_of(key: Key, labels: dict[tuple[bool, int], str]) -> str:
    purpose, owner, _, _ = key
    if owner is None:
        return f"{purpose}:(no beneficiary)"
    client = Purpose(purpose) in CLIENT_OWNED
    return f"{purpose}:{labels.get((client, owner), f'#{owner}')}"


def shown(amount: Decimal, places: int) -> Decimal:
    """``amount`` at ``places`` when that is exact (journal sums carry the column's 8 places), else as it is: a
    figure is never rounded into agreement."""
    rounded = quantize(amount, places)
    return rounded if rounded == amount else amount


def payables_vs_lines(
    *,
    period: str,
    kinds: Iterable[str],
    expected: Iterable[ExpectedPosting],
    line_evidence: LineEvidence | None = None,
) -> list[Row]:
    """One row per (payable, owner, kind, currency) that has lines or postings: the lines' sum rounded as posted
    (``expected``) beside the posted payable legs (``actual``); a difference lists its transactions and lines."""
    places: dict[str, int] = {}
    rounded: dict[Key, Decimal] = defaultdict(Decimal)
    groups: dict[Key, list[ExpectedPosting]] = defaultdict(list)
    for posting in expected:
        if posting.owner_id is None and posting.owed == 0:
            continue  # lines that pay nobody and nothing (e.g. a trade without an IB): no posting, nothing owed
        if posting.currency not in places:
            places[posting.currency] = currency_places(posting.currency)
        rounded[posting.key] += quantize(posting.owed, places[posting.currency])
        groups[posting.key].append(posting)
    posted = posted_payables(period=period, kinds=kinds)
    keys = sorted(set(groups) | set(posted), key=lambda k: (k[0], k[1] or 0, k[2], k[3]))
    labels = owner_labels(keys)
    # Labels only for what a difference shows (a clean period names nothing): one lookup for the whole check.
    differing = []
    for key in keys:
        if key[3] not in places:
            places[key[3]] = currency_places(key[3])
        legs = posted.get(key, [])
        got = shown(sum((leg.owed for leg in legs), Decimal(0)), places[key[3]])
        differing.append(rounded.get(key, Decimal(0)) != got)
    named = source_labels(
        key
        for key_, differs in zip(keys, differing, strict=True)
        if differs
        for key in (
            *(f"run:{p.run_id}" for p in groups.get(key_, [])),
            *(leg.source_key for leg in posted.get(key_, [])[:EVIDENCE_LIMIT]),
        )
    )
    rows = []
    for key, differs in zip(keys, differing, strict=True):
        legs = posted.get(key, [])
        want = rounded.get(key, Decimal(0))
        got = shown(sum((leg.owed for leg in legs), Decimal(0)), places[key[3]])
        runs = sorted({p.run_id for p in groups.get(key, [])})
        status = Status.DIFFERENCE if differs else Status.OK
        evidence: list[Evidence] = []
        if differs:
            evidence += [Evidence(EvidenceType.RUN, run, named[f"run:{run}"]) for run in runs]
            evidence += [
                Evidence(
                    EvidenceType.TRANSACTION, leg.transaction_id, named[leg.source_key], shown(leg.owed, places[key[3]])
                )
                for leg in legs[:EVIDENCE_LIMIT]
            ]
            if line_evidence is not None and key in groups:
                evidence += line_evidence(key, groups[key])
        rows.append(
            Row(
                subject=subject_of(key, labels),
                detail=key[2],
                currency=key[3],
                count=sum(p.lines for p in groups.get(key, [])),
                expected=want,
                actual=got,
                status=status,
                evidence=tuple(evidence),
                # By natural keys where a difference names them (labelled above); a matching row only counts them.
                note=(
                    ", ".join(
                        [*(named[f"run:{run}"] for run in runs), *(named[leg.source_key] for leg in legs[:3])]
                        + ([f"… {len(legs)} transactions"] if len(legs) > 3 else [])
                    )
                    if differs
                    else f"{len(runs)} run(s), {len(legs)} transaction(s)"
                ),
            )
        )
    return rows
