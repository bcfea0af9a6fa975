"""``manage.py bench``: benchmarks of the hot paths on generated data, each printed beside its naive baseline and the
COPY floor. Every benchmark runs in a database of its own (``database.bench_database``), never in the configured one.

``registry`` holds the registered benchmarks; ``suite.load_benches`` imports the modules that register them
(``commissions``, ``ingest``, ``mam``, ``payouts``).
"""
