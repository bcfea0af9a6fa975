"""``manage.py bench [NAME ...] [--rows N] [--seed S] [--dir DIR] [--keep-db] [--scale]``: run benchmarks of the
hot paths (``ingest``, ``commissions``, ``mam``, ``payouts``) and print each figure beside its naive baseline and the
COPY floor; ``--scale`` times the commission run at 250k, 1M and 2M trades with each size's peak RSS.

Each benchmark runs in a scratch database of its own on the configured server (created, migrated, dropped): the
configured database is never touched, whatever its name."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from demo.bench import commissions as commissions_bench
from demo.bench.database import bench_database
from demo.bench.registry import Measurement
from demo.bench.suite import load_benches


class Command(BaseCommand):
    help = "Benchmark the hot paths on generated data; each figure is printed beside its naive baseline."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="Benchmarks to run (default: all). Known: see --list.")
        parser.add_argument("--list", action="store_true", help="List the benchmarks and exit.")
        parser.add_argument("--rows", type=int, default=1_000_000, help="Rows of generated data (default 1000000).")
        parser.add_argument("--seed", type=int, default=7, help="Random seed of the generated data (default 7).")
        parser.add_argument(
            "--dir", type=Path, default=None, help="Where generated files are kept and reused (default var/bench/)."
        )
        parser.add_argument(
            "--keep-db", action="store_true", help="Keep each benchmark's scratch database afterwards (to inspect it)."
        )
        parser.add_argument(
            "--scale",
            action="store_true",
            help="commissions only: time the run at 250k, 1M and 2M trades (seconds and peak RSS per size).",
        )

    def handle(self, *args, names: list[str], rows: int, seed: int, dir: Path | None, **options) -> None:
        benches = load_benches()
        if options["list"]:
            for bench in benches.values():
                self.stdout.write(f"{bench.name}: {bench.help}")
            return
        unknown = [n for n in names if n not in benches]
        if unknown:
            raise CommandError(f"Unknown benchmark(s): {', '.join(unknown)}. Known: {', '.join(benches)}.")
        if rows < 1:
            raise CommandError("--rows must be at least 1.")
        directory = dir or Path(settings.IBEX_VAR_DIR) / "bench"
        quiet = options["verbosity"] == 0

        @contextmanager
        def progress(label: str, total: int):
            with tqdm(total=total, desc=label, unit=" rows", unit_scale=True, disable=quiet, leave=False) as bar:
                yield bar.update

        if options["scale"]:
            if names and names != ["commissions"]:
                raise CommandError("--scale measures the commissions run only.")
            results = commissions_bench.scale(
                seed=seed,
                run_in_database=lambda label: bench_database(
                    label=label, keep=options["keep_db"], write=self.stdout.write
                ),
                write=self.stdout.write,
            )
            self.stdout.write(commissions_bench.format_scale(results))
            return
        for name in names or list(benches):
            with bench_database(label=name, keep=options["keep_db"], write=self.stdout.write):
                measurements = benches[name].run(
                    rows=rows, seed=seed, directory=directory, write=self.stdout.write, progress_factory=progress
                )
            self.stdout.write(format_table(name, measurements))


def format_table(name: str, measurements: list[Measurement]) -> str:
    width = max([52, *(len(m.label) for m in measurements)])
    lines = [f"\n{name}", f"  {'path':<{width}} {'rows':>11} {'seconds':>9} {'rows/s':>11}"]
    for m in measurements:
        lines.append(f"  {m.label:<{width}} {m.rows:>11,} {m.seconds:>9.1f} {m.rows_per_second:>11,.0f}")
    ours = [m for m in measurements if not m.baseline]
    for baseline in (m for m in measurements if m.baseline):
        for m in (m for m in ours if m.part == baseline.part):
            ratio = m.rows_per_second / baseline.rows_per_second
            lines.append(f"  {m.label}: {ratio:,.1f}× the rate of {baseline.label}")
    for m in measurements:
        if m.notes:
            lines.append(f"  {m.label}: {json.dumps(m.notes)}")
    return "\n".join(lines)
