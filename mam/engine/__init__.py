"""Pure MAM engines (allocation, fees): DataFrames, Decimals and dataclasses in and out; no Django, no clock.

Built by the MAM issue on ``core.exact`` and ``core.money``; the purity contract already holds for this package.
"""
