"""The benchmark registry: each benchmark module registers ``run`` under a name; ``suite.load_benches`` imports them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Measurement:
    """One timed run: ``rows`` processed in ``seconds`` of wall time. A ``baseline`` is the naive way, printed for
    comparison; ``sample_rows`` says it was measured on that many rows and scaled up to ``rows``; ``part`` keeps the
    comparisons inside one part of a benchmark."""

    label: str
    rows: int
    seconds: float
    baseline: bool = False
    sample_rows: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    # Measurements of one benchmark that answer different questions (e.g. MAM allocation and fees) name their part:
    # each is compared with the baselines of its own part only.
    part: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


@dataclass(frozen=True)
class Bench:
    name: str
    help: str
    run: Callable[..., list[Measurement]]


BENCHES: dict[str, Bench] = {}


def register(name: str, help: str) -> Callable[[Callable[..., list[Measurement]]], Callable[..., list[Measurement]]]:
    """Register ``run(*, rows, seed, directory, write, progress_factory) -> [Measurement]`` as benchmark ``name``."""

    def decorate(run: Callable[..., list[Measurement]]) -> Callable[..., list[Measurement]]:
        BENCHES[name] = Bench(name=name, help=help, run=run)
        return run

    return decorate
