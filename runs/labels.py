"""Reconciliation labels of the journal keys runs post under (``run:{pk}:…``, ``runs.registry.run_source_key``): the
run by its kind and period (and scope), owners by their codes or server:login — never the internal ids the key
holds. Registered with the ledger's labels (``ledger.reconciliation.labels``) in ``RunsConfig.ready``."""

from __future__ import annotations

from collections.abc import Sequence

from ledger.reconciliation.labels import owner_part_labels

from .models import Run

_OWNERS = ("partner", "client", "manager")


def run_label(kind: str, period: str, scope: str) -> str:
    return f"{kind} {period}" + (f" [{scope}]" if scope else "")


def run_key_labels(keys: Sequence[str]) -> dict[str, str]:
    """``run:812:partner:45:volume:USD`` → ``commissions 2026-03 partner ib-7 volume USD``; ``run:812`` alone → the
    run's label."""
    split = {key: key.split(":") for key in keys}
    split = {key: parts for key, parts in split.items() if len(parts) >= 2 and parts[1].isdigit()}
    runs = {
        pk: run_label(kind, period, scope)
        for pk, kind, period, scope in Run.objects.filter(pk__in={int(p[1]) for p in split.values()}).values_list(
            "pk", "kind", "period", "scope"
        )
    }
    pairs = {(p[i], p[i + 1]) for p in split.values() for i in range(2, len(p) - 1) if p[i] in _OWNERS}
    owners = owner_part_labels(pairs)
    labels = {}
    for key, parts in split.items():
        run = int(parts[1])
        if run not in runs:
            continue
        words, i = [runs[run]], 2
        while i < len(parts):
            if parts[i] in _OWNERS and i + 1 < len(parts):
                words.append(owners.get((parts[i], parts[i + 1]), f"{parts[i]} {parts[i + 1]}"))
                i += 2
            else:
                words.append(parts[i])
                i += 1
        labels[key] = " ".join(words)
    return labels
