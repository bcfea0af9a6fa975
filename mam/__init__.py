"""MAM: money managers, groups and members (with risk limits), equity and cash flows, master trades and their
allocations and closes (DOMAIN.md 5)."""
