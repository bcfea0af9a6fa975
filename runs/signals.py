"""Extension points of the run framework for the apps above it (e.g. reporting's rollups): sent after the
transaction that computed or approved a run commits, with ``run_id`` and ``kind``."""

from django.dispatch import Signal

run_computed = Signal()
run_approved = Signal()
