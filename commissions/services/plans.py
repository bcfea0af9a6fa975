"""Plans (rules, tiers, filters), their effective-dated assignment to partners, and client rebates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from core.effective import SeriesChange, series_set_from
from partners.models import ClientAccount, Partner

from ..models import Instrument, PartnerPlan, Plan, PlanRule, PlanTier, Rebate

_RULE_FIELDS = ("type", "instrument_id", "symbol_group", "account_group", "rate", "pct", "priority")


def _rule_key(values: Mapping[str, Any]) -> tuple:
    def norm(v):
        return v.normalize() if isinstance(v, Decimal) else v

    return tuple(norm(values.get(f)) for f in _RULE_FIELDS)


def plan_upsert(
    *,
    code: str,
    name: str,
    currency: str = "USD",
    both_legs: bool = False,
    min_hold_seconds: int | None = None,
    min_points: Decimal | None = None,
    tier_mode: str = Plan.TierMode.RETROACTIVE,
    tiers: Sequence[Mapping[str, Any]] = (),
    rules: Sequence[Mapping[str, Any]] = (),
) -> Plan:
    """Create or replace a plan's settings, tiers and rules.

    Rules are matched by content: unchanged rules keep their ids, new ones are added, and dropped ones are
    deleted, or retired (``active`` false) when lines already refer to them.
    """
    rule_rows = []
    errors: dict[str, list] = {}
    symbols = {r["symbol"] for r in rules if r.get("symbol")}
    instruments = {i.symbol: i.pk for i in Instrument.objects.filter(symbol__in=symbols)}
    for index, rule in enumerate(rules):
        row = {
            "type": rule["type"],
            "instrument_id": None,
            "symbol_group": rule.get("symbol_group") or "",
            "account_group": rule.get("account_group") or "",
            "rate": None if rule.get("rate") is None else Decimal(str(rule["rate"])),
            "pct": None if rule.get("pct") is None else Decimal(str(rule["pct"])),
            "priority": rule.get("priority") if rule.get("priority") is not None else 100,
        }
        if rule.get("symbol"):
            if rule["symbol"] not in instruments:
                errors.setdefault("rules", []).append({"index": index, "symbol": ["Unknown instrument."]})
                continue
            row["instrument_id"] = instruments[rule["symbol"]]
        rule_rows.append(row)
    froms = [Decimal(t["from_lots"]) for t in tiers]
    if len(set(froms)) != len(froms):
        errors["tiers"] = ["Two tiers start at the same volume."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        plan, _ = Plan.objects.select_for_update().update_or_create(
            code=code,
            defaults={
                "name": name,
                "currency": currency,
                "both_legs": both_legs,
                "min_hold_seconds": min_hold_seconds,
                "min_points": min_points,
                "tier_mode": tier_mode,
            },
        )
        plan.full_clean()
        PlanTier.objects.filter(plan=plan).delete()
        PlanTier.objects.bulk_create(
            PlanTier(plan=plan, from_lots=t["from_lots"], multiplier=t["multiplier"])
            for t in sorted(tiers, key=lambda t: Decimal(t["from_lots"]))
        )
        existing = {_rule_key(r.__dict__): r for r in PlanRule.objects.filter(plan=plan, active=True)}
        wanted = {_rule_key(row): row for row in rule_rows}
        for key, rule in existing.items():
            if key not in wanted:
                if rule.attributionline_set.exists():
                    PlanRule.objects.filter(pk=rule.pk).update(active=False)
                else:
                    rule.delete()
        new_rules = [PlanRule(plan=plan, **row) for key, row in wanted.items() if key not in existing]
        for rule in new_rules:
            rule.full_clean(exclude=["plan"])
        PlanRule.objects.bulk_create(new_rules)
    return plan


def partner_plan_assign(*, partner: Partner, plan: Plan, effective_from: datetime | None = None) -> PartnerPlan:
    """Put ``partner`` on ``plan`` from ``effective_from`` on, under the dating rules of ``core.effective``: a first
    plan holds since always unless dated, a change defaults to now and may be back-dated while no approved period
    is affected (else ``Conflict``), the same plan from an earlier instant back-dates its start, and the plan already
    in force changes nothing. Earlier trades keep the plan they had."""
    with transaction.atomic():
        Partner.objects.select_for_update().get(pk=partner.pk)  # serialise a partner's first assignment
        change = series_set_from(
            rows=PartnerPlan.objects.filter(partner=partner),
            effective_from=effective_from,
            same=lambda row: row.plan_id == plan.pk,
            create=lambda at, until: PartnerPlan.objects.create(
                partner=partner, plan=plan, valid_from=at, valid_to=until
            ),
            subject=f"Putting {partner.code} on plan {plan.code}",
        )
        return change.row


def rebate_set(
    *,
    partner: Partner,
    account: ClientAccount | None = None,
    pct: Decimal | None = None,
    per_lot: Decimal | None = None,
    effective_from: datetime | None = None,
) -> Rebate | None:
    """Set (or, with neither ``pct`` nor ``per_lot``, end) a partner's rebate to one account or to all clients; the
    rebate in force from then on (see ``rebate_change``)."""
    return rebate_change(partner=partner, account=account, pct=pct, per_lot=per_lot, effective_from=effective_from).row


def rebate_change(
    *,
    partner: Partner,
    account: ClientAccount | None = None,
    pct: Decimal | None = None,
    per_lot: Decimal | None = None,
    effective_from: datetime | None = None,
) -> SeriesChange:
    """Set or end a rebate, saying whether anything changed.

    Dating as in ``core.effective``: a first rebate holds since always unless dated; a change defaults to now and
    may be back-dated while no approved period is affected. Setting the terms already in force, or ending a rebate
    when none is in force, changes nothing.
    """
    if pct is not None and per_lot is not None:
        raise ValidationError({"pct": ["Give a percent or an amount per lot, not both."]})
    if pct is not None and not Decimal(0) <= pct <= Decimal(100):
        raise ValidationError({"pct": ["Must be between 0 and 100."]})
    if per_lot is not None and per_lot < 0:
        raise ValidationError({"per_lot": ["Must not be negative."]})
    ends = pct is None and per_lot is None
    target = str(account) if account is not None else "all clients"
    with transaction.atomic():
        Partner.objects.select_for_update().get(pk=partner.pk)  # serialise a partner's first rebate
        change = series_set_from(
            rows=Rebate.objects.filter(partner=partner, account=account),
            effective_from=effective_from,
            same=lambda row: row.pct == pct and row.per_lot == per_lot,
            create=lambda at, until: Rebate.objects.create(
                partner=partner, account=account, pct=pct, per_lot=per_lot, valid_from=at, valid_to=until
            ),
            subject=f"{'Ending' if ends else 'Setting'} {partner.code}'s rebate to {target}",
            ends=ends,
        )
        return change
