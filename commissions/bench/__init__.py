"""``manage.py bench``: benchmarks of the hot paths, each printed beside its naive baseline.

A benchmark registers itself with :func:`register` under a name (``ingest`` here; later ``commissions``, ``fees``,
… from their own ``<app>/bench`` modules, which the command discovers in every installed app). The command runs
the named ones, or all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Measurement:
    """One timed run: ``rows`` processed in ``seconds`` of wall time. A ``baseline`` is the naive way, printed for
    comparison; ``sample_rows`` says it was measured on that many rows and scaled up to ``rows``."""

    label: str
    rows: int
    seconds: float
    baseline: bool = False
    sample_rows: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)

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


def load_benches() -> dict[str, Bench]:
    """Import every installed app's ``bench`` module so its benchmarks register themselves."""
    from django.utils.module_loading import autodiscover_modules

    from . import commissions, ingest  # noqa: F401  (register "commissions" and "ingest")

    autodiscover_modules("bench")
    return BENCHES
