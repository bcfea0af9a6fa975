"""The MAM admin, by sub-domain: managers, groups (members inline, fee terms history) and members; the data feed
(equity snapshots, cash flows) and the trading record (master trades with their allocations and closes), read-only:
posted and derived data changes only through the services; fee lines and members' fee states, read-only."""

from . import fees, groups, trades

__all__ = ["fees", "groups", "trades"]
