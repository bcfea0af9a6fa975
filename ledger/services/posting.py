"""The one posting API: every money movement of every app reaches the journal through ``journal_post``.

Units: amounts are exact ``Decimal`` in the posting's currency, signed (debit > 0, credit < 0).

Rounding point (the only one of the ledger): each leg not marked ``exact`` is rounded half-up to the currency's minor
unit (``ledger.Currency.minor_unit``, through ``core.money.quantize``); the difference the rounding leaves is posted to
the currency's rounding account. An ``exact`` leg keeps up to 6 places (a commission run's expense leg carries the
exact sum of its lines).

Invariants: the legs a caller gives balance exactly before rounding (else ``UnbalancedPosting``); after rounding the
transaction balances to the cent by construction, and PostgreSQL checks it again at commit (deferred triggers:
balanced, at least two legs, one currency). A ``source_key`` is posted at most once: posting it again is a no-op
when the legs are the same and a ``Conflict`` when they differ (a second, different posting under the same key is
a bug upstream, never money to add). Rows are never updated or deleted; ``journal_reverse`` posts the opposite.

Worked example — a partner earned 10.004567 USD of volume in run 812::

    Posting(source_key="run:812:partner:45:volume:USD", kind="volume", period="2026-03", currency="USD", legs=(
        Leg(AccountRef(Purpose.COMMISSION_EXPENSE, "USD"), Decimal("10.004567"), exact=True),
        Leg(AccountRef(Purpose.PARTNER_PAYABLE, "USD", partner_id=45), Decimal("-10.004567")),
    ))

posts commission expense +10.004567, partner payable −10.00 and rounding −0.004567: the partner is owed exactly
what its statement shows (10.00), the expense keeps the exact figure and the rounding account the difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction

from core.actors import Actor, recorded_user
from core.exceptions import ApplicationError, Conflict, NotFound
from core.money import LINE_PLACES, quantize

from ..models import JournalEntry, JournalTransaction, LedgerAccount
from ..postings import AccountRef, Posting
from ..vocabulary import Purpose
from .accounts import ledger_accounts_ensure
from .currencies import currencies_ensure


class UnbalancedPosting(ApplicationError):
    """A posting whose legs do not sum to zero before rounding (or that has fewer than two legs)."""


@dataclass
class PostingResult:
    posted: list[str] = field(default_factory=list)
    already_posted: list[str] = field(default_factory=list)
    transaction_ids: dict[str, int] = field(default_factory=dict)


def _rounded_legs(posting: Posting, minor_units: dict[str, int]) -> list[tuple[AccountRef, Decimal]]:
    """The legs as they are posted: rounded at the one rounding point, plus the rounding leg if one is needed."""
    if len(posting.legs) < 2:
        raise UnbalancedPosting(f"{posting.source_key}: a posting needs at least two legs")
    total = Decimal(0)
    legs: list[tuple[AccountRef, Decimal]] = []
    for leg in posting.legs:
        if not isinstance(leg.amount, Decimal) or not leg.amount.is_finite():
            raise UnbalancedPosting(f"{posting.source_key}: leg amounts must be finite Decimals, got {leg.amount!r}")
        if leg.account.currency != posting.currency:
            raise UnbalancedPosting(
                f"{posting.source_key}: a {leg.account.currency} leg in a {posting.currency} posting"
            )
        total += leg.amount
        if leg.exact:
            if quantize(leg.amount, LINE_PLACES) != leg.amount:
                raise UnbalancedPosting(f"{posting.source_key}: an exact leg has more than {LINE_PLACES} places")
            legs.append((leg.account, leg.amount))
        else:
            legs.append((leg.account, quantize(leg.amount, minor_units[posting.currency])))
    if total != 0:
        raise UnbalancedPosting(f"{posting.source_key}: the legs sum to {total}, not 0")
    residual = -sum((amount for _, amount in legs), Decimal(0))
    if residual:
        legs.append((AccountRef(Purpose.ROUNDING, posting.currency), residual))
    return legs


def journal_post(*, postings: Sequence[Posting], user: Actor = None) -> PostingResult:
    """Post each posting as one balanced transaction (see the module docstring); return which keys were posted now
    and which had been posted before. All or nothing: one bad posting posts none of them."""
    keys = [p.source_key for p in postings]
    if len(set(keys)) != len(keys):
        raise UnbalancedPosting("the same source_key appears twice in one call")
    result = PostingResult()
    if not postings:
        return result
    posted_by = getattr(recorded_user(user), "pk", None)
    with transaction.atomic():
        currencies = currencies_ensure(codes={p.currency for p in postings})
        minor_units = {code: c.minor_unit for code, c in currencies.items()}
        prepared = [(p, _rounded_legs(p, minor_units)) for p in postings]
        accounts = ledger_accounts_ensure(refs={ref for _, legs in prepared for ref, _ in legs})
        inserted = _insert_transactions(postings, posted_by=posted_by)
        legs_to_insert = [
            (inserted[posting.source_key], accounts[ref].pk, amount)
            for posting, legs in prepared
            if posting.source_key in inserted
            for ref, amount in legs
        ]
        _insert_entries(legs_to_insert)
        skipped = [(p, legs) for p, legs in prepared if p.source_key not in inserted]
        _check_same_as_posted(skipped, accounts)
    result.posted = [k for k in keys if k in inserted]
    result.already_posted = [k for k in keys if k not in inserted]
    result.transaction_ids = dict(inserted)
    return result


def _insert_transactions(postings: Sequence[Posting], *, posted_by: int | None) -> dict[str, int]:
    """INSERT the transaction rows, skipping keys that exist (ON CONFLICT): source key → new id."""
    table = JournalTransaction._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (source_key, kind, period, currency, memo, posted_by_id)
            SELECT k, kind, period, currency, memo, %s
              FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
                   AS x(k, kind, period, currency, memo)
            ON CONFLICT (source_key) DO NOTHING
            RETURNING source_key, id
            """,
            [
                posted_by,
                [p.source_key for p in postings],
                [p.kind for p in postings],
                [p.period for p in postings],
                [p.currency for p in postings],
                [p.memo[:255] for p in postings],
            ],
        )
        return dict(cursor.fetchall())


def _insert_entries(legs: list[tuple[int, int, Decimal]]) -> None:
    """INSERT the legs in one statement (the ledger's leg check then runs once over all of them)."""
    if not legs:
        return
    transaction_ids, account_ids, amounts = (list(column) for column in zip(*legs, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {JournalEntry._meta.db_table} (transaction_id, account_id, amount) "
            "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::numeric[])",
            [transaction_ids, account_ids, amounts],
        )


def _check_same_as_posted(
    skipped: Iterable[tuple[Posting, list[tuple[AccountRef, Decimal]]]], accounts: dict[AccountRef, LedgerAccount]
) -> None:
    """A key posted before must have been posted with the same legs; anything else is refused."""
    skipped = list(skipped)
    if not skipped:
        return
    stored: dict[str, list[tuple[int, Decimal]]] = {}
    rows = JournalEntry.objects.filter(transaction__source_key__in=[p.source_key for p, _ in skipped]).values_list(
        "transaction__source_key", "account_id", "amount"
    )
    for key, account_id, amount in rows:
        stored.setdefault(key, []).append((account_id, amount))
    for posting, legs in skipped:
        wanted = sorted((accounts[ref].pk, amount) for ref, amount in legs)
        if sorted(stored.get(posting.source_key, [])) != wanted:
            raise Conflict(
                f"{posting.source_key} was posted before with different legs; a posted transaction is never changed: "
                "post a correction under its own key"
            )


def journal_reverse(
    *, source_key: str, reversal_key: str | None = None, period: str | None = None, memo: str = "", user: Actor = None
) -> JournalTransaction:
    """Post the exact opposite of the transaction ``source_key`` (once: reversing it again returns the reversal).

    Refused: an unknown ``source_key`` (``NotFound``), and a ``reversal_key`` another transaction already holds
    (``Conflict``: a key names one posting forever)."""
    key = reversal_key or f"reversal:{source_key}"
    with transaction.atomic():
        original = JournalTransaction.objects.select_for_update().filter(source_key=source_key).first()
        if original is None:
            raise NotFound(f"no posted transaction {source_key}")
        existing = JournalTransaction.objects.filter(reverses=original).first()
        if existing is not None:
            return existing
        if JournalTransaction.objects.filter(source_key=key).exists():
            raise Conflict(f"{key} is already the key of another posted transaction; choose another reversal key")
        reversal = JournalTransaction.objects.create(
            source_key=key,
            kind=original.kind,
            period=period or original.period,
            currency_id=original.currency_id,
            memo=(memo or f"reverses {source_key}")[:255],
            reverses=original,
            posted_by=recorded_user(user),
        )
        JournalEntry.objects.bulk_create(
            JournalEntry(transaction=reversal, account_id=e.account_id, amount=-e.amount)
            for e in original.entries.all()
        )
    return reversal
