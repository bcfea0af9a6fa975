"""What a partner may read of the platform (the ``/api/v1/me/`` routes): itself, its downline and the lines, clients,
payouts and statements that are its own. Every query here starts from the partner, so nothing outside its scope can
be reached by naming it: an id or code outside the scope matches no row, and the view answers 404 as for one that
does not exist.

Aggregates group the lines of record (``commissions.selectors.attribution_lines``: each period's approved commission
run, else its computed one) in PostgreSQL; volumes count each trade once (a trade has a line per kind and level)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet, Sum
from django.utils import timezone

from commissions.models import AttributionLine, Trade
from commissions.selectors import attribution_lines, with_rule_terms_from
from commissions.vocabulary import Reason, RuleType
from core.periods import period_of
from core.vocabulary import LineKind
from ledger.models import PayoutBatch, PayoutLine
from partners.extensions import partner_field_values
from partners.models import ClientAccount, Partner, PartnerToken
from partners.selectors import account_list, partner_downline_at, partner_parent_at
from runs.models import Run
from runs.selectors import record_run_ids

ZERO = Decimal(0)


def me_partner(user) -> Partner | None:
    """The partner a request's user is (None for staff and for a user that is no partner's)."""
    if not (user and user.is_authenticated) or user.is_staff or user.is_superuser:
        return None
    return Partner.objects.select_related("program").filter(user=user).first()


def current_period() -> str:
    return period_of(timezone.now()).label


# --- the partner itself ---------------------------------------------------------------------------------------------


def me_profile(partner: Partner) -> dict:
    """The partner as it sees itself: its parent now, its plan now (the commissions app's partner field), and its
    links."""
    parent = partner_parent_at(partner=partner)
    extra = partner_field_values([partner])
    base = settings.IBEX_PORTAL_BASE_URL.rstrip("/")
    return {
        "partner": partner,
        "parent": parent.code if parent else None,
        "plan": extra.get("plan", {}).get(partner.pk),
        "referral_link": f"{base}/join/?ref={partner.referral_code}",
        "invitation_link": f"{base}/join/sub-ib/?ref={partner.referral_code}",
    }


# --- lines ----------------------------------------------------------------------------------------------------------


def direct_ib_lines(*, code: str) -> QuerySet[AttributionLine]:
    """Level-1 lines (the trade's direct IB, DOMAIN.md "level") whose partner is ``code``."""
    return AttributionLine.objects.filter(level=1, partner__code=code)


def me_lines(partner: Partner) -> QuerySet[AttributionLine]:
    """The partner's own lines of record, by id, with what a page shows loaded."""
    lines = attribution_lines().filter(partner=partner)
    return with_rule_terms_from(
        lines.select_related("trade", "beneficiary_account", "rule__plan", "rule__instrument", "account")
    )


def lines_of_sub_ib(lines: QuerySet[AttributionLine], code: str) -> QuerySet[AttributionLine]:
    """``lines`` on trades whose direct IB (in the same run) is the partner ``code``."""
    direct = direct_ib_lines(code=code).filter(run_id=OuterRef("run_id"), trade_id=OuterRef("trade_id"))
    return lines.filter(Exists(direct))


RULE_WORDS = {
    RuleType.PER_LOT.value: "{rate} per lot",
    RuleType.PER_MILLION.value: "{rate} per million USD notional",
    RuleType.SPREAD_SHARE.value: "{rate} % of the spread",
    RuleType.COMMISSION_SHARE.value: "{rate} % of the client's commission",
}


def _plain(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def line_explanation(line: AttributionLine) -> str:
    """One line in words: which trade, at which level, by which rule, rate and tier, and why it pays nothing or
    which locked period it adjusts."""
    trade = line.trade
    side = "client" if line.level <= 1 else f"level-{line.level} downline"
    words = [
        f"{LineKind(line.kind).label} on ticket {trade.ticket} ({trade.server}), {_plain(trade.lots)} lots of "
        f"{trade.symbol} by {side} account {trade.login}"
    ]
    if line.level > 1:
        words.append(f"you are level {line.level} of the chain")
    if line.rule is not None:
        rate = RULE_WORDS.get(line.rule.type, "{rate}").format(rate=_plain(line.rate))
        where = line.rule.instrument.symbol if line.rule.instrument else (line.rule.symbol_group or "any symbol")
        words.append(f"rule {line.rule.type} of plan {line.rule.plan.code} for {where}: {rate}")
    elif line.rate is not None:
        words.append(f"rate {_plain(line.rate)}")
    if line.tier is not None:
        words.append(f"tier {line.tier} (multiplier {_plain(line.multiplier)})")
    if line.reason:
        label = Reason(line.reason).label if line.reason in Reason.values else line.reason
        words.append(f"pays nothing: {label.lower()}")
    if line.adjusts_period:
        words.append(f"adjusts the locked period {line.adjusts_period}")
    words.append(f"amount {_plain(line.amount)} {line.currency}")
    return "; ".join(words) + "."


# --- downline and clients -------------------------------------------------------------------------------------------


def me_downline(partner: Partner) -> list[tuple[Partner, int]]:
    """The partner's sub-IBs now, with their depth (1 = direct) and parent (``parent_code``), by depth and code."""
    return partner_downline_at(partner=partner)


def _record_lines_sql(extra_where: str = "") -> str:
    """The lines of record of one period (``%(period)s``) as SQL, by the table's name."""
    table = AttributionLine._meta.db_table
    return f"SELECT * FROM {table} WHERE run_id = ANY(%(runs)s) AND period = %(period)s {extra_where}"


def _record_runs() -> list[int]:
    return record_run_ids(kind="commissions")


def volume_by_direct_ib(*, partner_ids: Iterable[int], period: str) -> dict[int, Decimal]:
    """Lots traded in ``period`` by the clients of each of ``partner_ids`` (trades where it is the direct IB)."""
    sql = f"""
        SELECT d.partner_id, SUM(t.lots)
          FROM (SELECT DISTINCT partner_id, trade_id FROM ({_record_lines_sql()}) l
                 WHERE l.level = 1 AND l.partner_id = ANY(%(partners)s)) d
          JOIN {Trade._meta.db_table} t ON t.id = d.trade_id
         GROUP BY d.partner_id
    """
    params = {"runs": _record_runs(), "period": period, "partners": list(partner_ids)}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {pid: Decimal(lots) for pid, lots in cursor.fetchall()}


def earned_by_direct_ib(*, partner: Partner, period: str) -> dict[int, Decimal]:
    """What ``partner`` earned in ``period`` on the trades of each direct IB (its own id for its own clients)."""
    sql = f"""
        SELECT d.partner_id, SUM(m.amount)
          FROM ({_record_lines_sql("AND partner_id = %(me)s")}) m
          JOIN (SELECT DISTINCT run_id, trade_id, partner_id FROM ({_record_lines_sql()}) l
                 WHERE l.level = 1 AND l.partner_id IS NOT NULL) d
            ON d.run_id = m.run_id AND d.trade_id = m.trade_id
         GROUP BY d.partner_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"runs": _record_runs(), "period": period, "me": partner.pk})
        return {pid: Decimal(amount) for pid, amount in cursor.fetchall()}


def me_clients(partner: Partner) -> QuerySet[ClientAccount]:
    """The accounts attributed to the partner now, by server and login."""
    return account_list().filter(current_partner_code=partner.code)


@dataclass(frozen=True)
class ClientFigures:
    volume: Decimal = ZERO
    earned: Decimal = ZERO


def client_figures(*, partner: Partner, account_ids: Iterable[int], period: str) -> dict[int, ClientFigures]:
    """Per account of ``account_ids``: lots it traded in ``period`` with ``partner`` as direct IB, and what
    ``partner`` earned on its trades (every kind, rebate funding included)."""
    sql = f"""
        SELECT l.account_id,
               COALESCE((SELECT SUM(t.lots) FROM {Trade._meta.db_table} t WHERE t.id IN (
                   SELECT v.trade_id FROM ({_record_lines_sql()}) v
                    WHERE v.account_id = l.account_id AND v.level = 1 AND v.partner_id = %(me)s)), 0),
               SUM(l.amount)
          FROM ({_record_lines_sql("AND partner_id = %(me)s AND account_id = ANY(%(accounts)s)")}) l
         GROUP BY l.account_id
    """
    params = {"runs": _record_runs(), "period": period, "me": partner.pk, "accounts": list(account_ids)}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {aid: ClientFigures(Decimal(volume), Decimal(earned)) for aid, volume, earned in cursor.fetchall()}


# --- payouts, tokens, summary ---------------------------------------------------------------------------------------


def me_payout_lines(partner: Partner) -> QuerySet[PayoutLine]:
    """The partner's payout lines of approved batches on, newest batch first. A draft is finance's work in progress
    (it may be discarded, its lines re-checked at approval), so a partner sees a batch once it is approved."""
    return (
        PayoutLine.objects.filter(partner=partner)
        .exclude(batch__status__in=[PayoutBatch.Status.DRAFT, PayoutBatch.Status.DISCARDED])
        .select_related("batch")
        .order_by("-batch_id", "-id")
    )


def me_tokens(partner: Partner) -> QuerySet[PartnerToken]:
    """The partner's live named tokens, newest first."""
    return PartnerToken.objects.filter(partner=partner, revoked_at__isnull=True).order_by("-created_at", "-id")


def period_is_approved(*, kind: str, period: str) -> bool:
    return Run.objects.filter(kind=kind, period=period, status=Run.Status.APPROVED).exists()


def me_summary(*, partner: Partner, period: str) -> dict:
    """Volume of the partner's clients and its earnings by kind in ``period`` once the period's commission run is
    approved; for a period not approved yet, the figures of record so far are left out and ``estimate`` is null:
    the estimate is the open-period beat task's (issue 12, not built yet)."""
    approved = period_is_approved(kind="commissions", period=period)
    volume = volume_by_direct_ib(partner_ids=[partner.pk], period=period).get(partner.pk, ZERO)
    earnings: dict[str, Decimal] = {}
    if approved:
        rows = (
            attribution_lines()
            .filter(partner=partner, period=period)
            .values("kind")
            .annotate(total=Sum("amount"))
            .order_by("kind")
        )
        earnings = {row["kind"]: row["total"] for row in rows}
    return {
        "period": period,
        "approved": approved,
        "volume": volume,
        "earnings": earnings,
        "earned": sum(earnings.values(), ZERO),
        "estimate": None,
    }
