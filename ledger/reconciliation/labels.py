"""Evidence labels for journal transactions by natural keys, not by the internal ids their source keys hold.

A source key is the posting's identity (``run:812:partner:45:volume:USD``, ``payout:7:311:90``): exact, but its ids
mean nothing to a person reading a reconciliation. Each key family has a labeler registered by the app that owns
its ids — the ledger its payouts here, the runs framework its runs (``runs.apps``), since the ledger may not import
the layers above it — giving e.g. ``commissions 2026-03 partner ib-7 volume USD`` or ``payout batch 7 ib-7``. A key
no labeler knows is shown as it is; a reversal is ``reversal of`` its original's label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from partners.models import ClientAccount, Partner

from ..models import PayoutLine

# Source keys (all of one family, e.g. all "run:…") → their labels; a key left out is shown as it is.
Labeler = Callable[[Sequence[str]], dict[str, str]]

_LABELERS: dict[str, Labeler] = {}
_REVERSAL = "reversal:"


def register_source_labeler(family: str, labeler: Labeler) -> None:
    """Label the source keys ``{family}:…`` with ``labeler`` (from an app's ``ready``; registering again
    replaces)."""
    _LABELERS[family] = labeler


def source_labels(keys: Iterable[str]) -> dict[str, str]:
    """Each of ``keys`` with its natural-key label (the key itself when no labeler knows it)."""
    keys = set(keys)
    originals = {key.removeprefix(_REVERSAL) if key.startswith(_REVERSAL) else key for key in keys}
    by_family: dict[str, list[str]] = {}
    for key in originals:
        by_family.setdefault(key.split(":", 1)[0], []).append(key)
    labels: dict[str, str] = {}
    for family, members in by_family.items():
        labeler = _LABELERS.get(family)
        labels.update(labeler(sorted(members)) if labeler else {})
    return {
        key: (
            f"reversal of {labels.get(key.removeprefix(_REVERSAL), key.removeprefix(_REVERSAL))}"
            if key.startswith(_REVERSAL)
            else labels.get(key, key)
        )
        for key in keys
    }


def owner_part_labels(parts: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """``("partner", "45")`` → ``partner ib-7``, ``("client", "12")`` → ``client live1:1001``, ``("manager", "3")``
    → ``manager m-1``: the owner parts of a source key by their natural keys (unknown ids stay as they are)."""
    parts = set(parts)
    partner_ids = {int(v) for k, v in parts if k in ("partner", "manager") and v.isdigit()}
    client_ids = {int(v) for k, v in parts if k == "client" and v.isdigit()}
    codes = dict(Partner.objects.filter(pk__in=partner_ids).values_list("pk", "code"))
    accounts = {
        pk: f"{server}:{login}"
        for pk, server, login in ClientAccount.objects.filter(pk__in=client_ids).values_list("pk", "server", "login")
    }
    named = {"partner": codes, "manager": codes, "client": accounts}
    return {
        (kind, value): f"{kind} {named[kind].get(int(value), value) if value.isdigit() else value}"
        for kind, value in parts
        if kind in named
    }


def _payout_labels(keys: Sequence[str]) -> dict[str, str]:
    """``payout:{batch}:{line}:{account}`` → ``payout batch {batch} {partner code}``: the payout line's natural key,
    as payout items are labelled."""
    lines = {}
    for key in keys:
        parts = key.split(":")
        if len(parts) == 4 and parts[2].isdigit():
            lines[key] = int(parts[2])
    codes = dict(PayoutLine.objects.filter(pk__in=set(lines.values())).values_list("pk", "partner__code"))
    return {key: f"payout batch {key.split(':')[1]} {codes[line]}" for key, line in lines.items() if line in codes}


register_source_labeler("payout", _payout_labels)
