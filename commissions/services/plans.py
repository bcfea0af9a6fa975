"""Plans (rules, tiers, filters) with dated content, their effective-dated assignment to partners, and client
rebates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.effective import SeriesChange, series_latest, series_set_from
from core.exceptions import FieldErrors
from core.history import Area, Reach, first_open_instant
from core.periods import SINCE_ALWAYS
from partners.models import ClientAccount, Partner
from partners.selectors import account_partner_at

from ..models import Instrument, PartnerPlan, Plan, PlanRule, PlanTerms, PlanTier, Rebate

_RULE_FIELDS = ("type", "instrument_id", "symbol_group", "account_group", "rate", "pct", "priority")


def _rule_key(values: Mapping[str, Any]) -> tuple:
    def norm(v):
        return v.normalize() if isinstance(v, Decimal) else v

    return tuple(norm(values.get(f)) for f in _RULE_FIELDS)


_FOUR_PLACES = Decimal("0.0001")


def rule_natural_key(rule: Mapping[str, Any]) -> tuple:
    """A rule's key within its plan, by which lines name it (with the plan's code): type, symbol or symbol group,
    account group, priority (blank and missing alike, priority 100 by default). Unique within a plan's content: two
    rules with one key would leave the trade they both match without a single rule to be priced by."""
    priority = rule.get("priority")
    return (
        rule["type"],
        rule.get("symbol") or "",
        rule.get("symbol_group") or "",
        rule.get("account_group") or "",
        100 if priority is None else priority,
    )


def duplicate_rule_message(first: int) -> str:
    return f"Same type, symbol, symbol group, account group and priority as rule {first}: a rule's key is unique."


@dataclass(frozen=True)
class _Content:
    """A plan's dated content, comparable: settings, tiers (exact strings) and the set of rule ids."""

    currency: str
    both_legs: bool
    min_hold_seconds: int | None
    min_points: Decimal | None
    tier_mode: str
    tiers: tuple[tuple[str, str], ...]
    rule_ids: frozenset[int]

    @classmethod
    def of(cls, terms: PlanTerms) -> _Content:
        return cls(
            currency=terms.currency,
            both_legs=terms.both_legs,
            min_hold_seconds=terms.min_hold_seconds,
            min_points=None if terms.min_points is None else terms.min_points.normalize(),
            tier_mode=terms.tier_mode,
            tiers=tuple((str(f), str(m)) for f, m in terms.tiers),
            rule_ids=frozenset(terms.rules.values_list("id", flat=True)),
        )


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
    effective_from: datetime | None = None,
) -> Plan:
    """Create a plan or change its content (settings, tiers, rules) from ``effective_from`` on.

    The content is dated (``PlanTerms``, DOMAIN.md 4.0) under the rules of ``core.effective``: a new plan's first
    content holds since always unless dated; a change defaults to now and may be back-dated while no approved period
    is affected (else ``Conflict``); re-sending the content in force changes nothing. Trades closed before the
    change keep the terms they had, in every run and adjustment. The name is a label and not dated.

    Rules are validated together: an unknown symbol, and a rule with the natural key (``rule_natural_key``) of an
    earlier one, are ``FieldErrors`` under ``rules`` keyed by the rule's index. Rules are immutable rows matched by
    content: an unchanged rule keeps its id in every terms that contains it (the
    id lines refer to); a rule in no terms and referred to by no line is deleted. The plan row, its tiers and its
    active rules are kept equal to the latest terms (what the admin and the API show and edit).
    """
    rule_rows = []
    errors: dict[str, Any] = {}
    rule_errors: dict[int, dict[str, list[str]]] = {}  # by the rule's 0-based index in ``rules``
    first_with_key: dict[tuple, int] = {}
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
        key = rule_natural_key(rule)
        if key in first_with_key:
            rule_errors.setdefault(index, {})["non_field_errors"] = [duplicate_rule_message(first_with_key[key])]
        first_with_key.setdefault(key, index)
        if rule.get("symbol"):
            if rule["symbol"] not in instruments:
                rule_errors.setdefault(index, {})["symbol"] = ["Unknown instrument."]
                continue
            row["instrument_id"] = instruments[rule["symbol"]]
        rule_rows.append(row)
    if rule_errors:
        errors["rules"] = rule_errors
    tier_rows = sorted(
        (PlanTier(from_lots=Decimal(str(t["from_lots"])), multiplier=Decimal(str(t["multiplier"]))) for t in tiers),
        key=lambda t: t.from_lots,
    )
    froms = [t.from_lots for t in tier_rows]
    if len(set(froms)) != len(froms):
        errors["tiers"] = ["Two tiers start at the same volume."]
    for tier in tier_rows:
        try:
            tier.full_clean(exclude=["plan"])
        except ValidationError as exc:
            errors.setdefault("tiers", []).extend(exc.messages)
    if errors:
        raise FieldErrors(errors)
    settings = {
        "currency": currency,
        "both_legs": both_legs,
        "min_hold_seconds": min_hold_seconds,
        "min_points": min_points,
        "tier_mode": tier_mode,
    }
    with transaction.atomic():
        plan = Plan.objects.select_for_update().filter(code=code).first()
        candidate = Plan(pk=plan.pk if plan else None, code=code, name=name, **settings)
        candidate.full_clean(validate_unique=plan is None)  # the wanted settings, checked before anything is written
        if plan is None:
            plan = candidate
            plan.save()
        elif plan.name != name:
            plan.name = name
            plan.save(update_fields=["name", "updated_at"])
        by_content: dict[tuple, PlanRule] = {}
        for rule in PlanRule.objects.filter(plan=plan).order_by("id"):
            by_content.setdefault(_rule_key(rule.__dict__), rule)
        wanted_ids = set()
        for row in rule_rows:
            rule = by_content.get(_rule_key(row))
            if rule is None:
                rule = PlanRule(plan=plan, active=False, **row)
                rule.full_clean(exclude=["plan"])
                rule.save()
                by_content[_rule_key(row)] = rule
            wanted_ids.add(rule.pk)
        content = _Content(
            currency=currency,
            both_legs=both_legs,
            min_hold_seconds=min_hold_seconds,
            min_points=None if min_points is None else Decimal(min_points).normalize(),
            tier_mode=str(tier_mode),
            tiers=tuple(
                (str(t.from_lots.quantize(_FOUR_PLACES)), str(t.multiplier.quantize(_FOUR_PLACES))) for t in tier_rows
            ),
            rule_ids=frozenset(wanted_ids),
        )

        def create(at: datetime, until: datetime | None) -> PlanTerms:
            terms = PlanTerms.objects.create(
                plan=plan,
                valid_from=at,
                valid_to=until,
                **settings,
                tiers=[list(pair) for pair in content.tiers],
            )
            terms.rules.set(sorted(wanted_ids))
            return terms

        series_set_from(
            rows=PlanTerms.objects.filter(plan=plan),
            effective_from=effective_from,
            same=lambda terms: _Content.of(terms) == content,
            create=create,
            subject=f"Changing plan {code}'s terms",
            area=Area.PLANS,
            reach=Reach.of(partners=PartnerPlan.objects.filter(plan=plan).values_list("partner_id", flat=True)),
        )
        _mirror_latest_terms(plan)
    return plan


def _mirror_latest_terms(plan: Plan) -> None:
    """Make the plan row, its tiers and its active rules equal to its latest terms; drop rules nothing refers to."""
    latest = series_latest(PlanTerms.objects.filter(plan=plan))
    if latest is None:
        return
    for field in ("currency", "both_legs", "min_hold_seconds", "min_points", "tier_mode"):
        setattr(plan, field, getattr(latest, field))
    plan.save()
    PlanTier.objects.filter(plan=plan).delete()
    PlanTier.objects.bulk_create(
        PlanTier(plan=plan, from_lots=Decimal(f), multiplier=Decimal(m)) for f, m in latest.tiers
    )
    latest_ids = set(latest.rules.values_list("id", flat=True))
    PlanRule.objects.filter(plan=plan, pk__in=latest_ids, active=False).update(active=True)
    PlanRule.objects.filter(plan=plan, active=True).exclude(pk__in=latest_ids).update(active=False)
    # A rule in no terms that no line refers to was never in force anywhere it could be explained from: delete it.
    unused = PlanRule.objects.filter(plan=plan, terms__isnull=True)
    for rule in unused:
        if not rule.attributionline_set.exists():
            rule.delete()


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
            area=Area.PLANS,
            reach=Reach.of(partners=[partner.pk]),
        )
        return change.row


def _require_the_partners_client(*, partner: Partner, account: ClientAccount, at: datetime) -> None:
    """A rebate to one client gives away part of what its IB earns on it: the account must be attributed to the
    rebate's partner when the rebate takes effect (an account attributed to another IB, or to none, would get a
    rebate no commission of the partner funds). Checked at that instant only: a later change of the account's IB
    ends what the rebate pays, as the engine reads the IB in force at each trade's close time."""
    current = account_partner_at(server=account.server, login=account.login, at=at)
    if current is None or current.pk != partner.pk:
        held = f"attributed to {current.code}" if current is not None else "attributed to no IB"
        when = "since always" if at == SINCE_ALWAYS else f"at {at.isoformat()}"
        raise FieldErrors({"account": [f"{account} is {held} {when}, not to {partner.code}."]})


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

    Dating as in ``core.effective``: a first rebate holds since always unless dated — from the end of the approved
    periods when there are any (it would take from what they paid; dated into one it is a ``Conflict``); a change
    defaults to now and may be back-dated while no approved period is affected. Setting the terms already in force,
    or ending a rebate when none is in force, changes nothing.
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
        rows = Rebate.objects.filter(partner=partner, account=account)
        if effective_from is None and not rows.exists():
            # A first rebate holds since always — but not over periods already paid: it would take from what the
            # IB was paid there. It starts where the approved periods end (DOMAIN.md 4.0, 4.5).
            start = first_open_instant(since=SINCE_ALWAYS, area=Area.PLANS)
            effective_from = None if start == SINCE_ALWAYS else start
            starts = start
        else:
            starts = effective_from or timezone.now()
        if account is not None and not ends:
            _require_the_partners_client(partner=partner, account=account, at=starts)
        change = series_set_from(
            rows=rows,
            effective_from=effective_from,
            same=lambda row: row.pct == pct and row.per_lot == per_lot,
            create=lambda at, until: Rebate.objects.create(
                partner=partner, account=account, pct=pct, per_lot=per_lot, valid_from=at, valid_to=until
            ),
            subject=f"{'Ending' if ends else 'Setting'} {partner.code}'s rebate to {target}",
            area=Area.PLANS,
            ends=ends,
            guard_first=True,
            reach=Reach.of(partners=[partner.pk]),
        )
        return change
