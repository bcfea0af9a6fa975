"""Pure commission engine: DataFrames, Decimals and dataclasses in and out; no Django."""
