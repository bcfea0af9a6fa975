"""The commissions admin, by sub-domain: reference data, the trade feed, imports and uploads, plans (with this
app's additions to the partner admin), attribution lines and the locked periods with what is pending for them.
Runs are in ``runs``'s admin, the journal and rates in ``ledger``'s."""

from . import imports, lines, locked, plans, reference, trades

__all__ = ["imports", "lines", "locked", "plans", "reference", "trades"]
