"""A fee run under two real Celery workers (separate processes, Redis broker, the committed test database), one group
per chunk, every chunk delivered twice: the run ends with exactly the lines of an undisturbed eager run."""

from __future__ import annotations

from collections import Counter

import pytest

from config.celery import app
from mam.models import FeeLine
from runs.models import Run, RunChunk
from runs.services.lifecycle import run_start
from runs.services.requests import run_request
from runs.tasks import chunk as run_chunk
from tests.runs.test_workers import celery_redis  # noqa: F401  (the fixture: tasks go to Redis, not in-process)
from tests.worker import celery_worker, wait_for

from .fee_support import equity, fee_group, flows, join, setup_partners

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

GROUPS = {"fund": (1001, 2002), "fund-b": (2003,), "fund-c": (2004, 2005)}


@pytest.fixture
def fee_broker(staff_client, settings):
    settings.IBEX_RUN_CHUNK_FEE_MEMBERS = 1
    setup_partners(staff_client)
    figures = {}
    for code, logins in GROUPS.items():
        fee_group(staff_client, code, management_rate="0.02", performance_rate="0.2", ib_fee_share_pct="10")
        for login in logins:
            join(staff_client, login, group=code, joined="2026-03-01")
            figures |= {(login, "2026-03-01"): "10000", (login, "2026-03-31"): f"{10000 + login}"}
    equity(staff_client, figures)
    flows(staff_client, [("w", 2002, "2026-03-15T10:00:00Z", "-500")])


def _lines(run_id: int) -> Counter:
    fields = [f.attname for f in FeeLine._meta.concrete_fields if f.attname not in ("id", "run_id")]
    return Counter(FeeLine.objects.filter(run_id=run_id).values_list(*fields))


def test_two_workers_and_every_chunk_twice_write_the_eager_runs_lines(fee_broker, celery_redis, tmp_path):  # noqa: F811
    run_id = run_request(kind="fees", period="2026-03").run.pk
    app.control.purge()  # this test starts the run itself, sending every chunk twice

    def enqueue_twice(run_pk: int, index: int) -> None:
        for _ in range(2):
            run_chunk.delay(run_pk, index)

    run_start(run_id=run_id, enqueue=enqueue_twice)
    env = {"IBEX_RUN_CHUNK_FEE_MEMBERS": "1"}
    with (
        celery_worker("f1", log_path=tmp_path / "f1.log", **env),
        celery_worker("f2", log_path=tmp_path / "f2.log", **env),
    ):
        run = wait_for(
            lambda: (r := Run.objects.get(pk=run_id)).status == Run.Status.COMPUTED and r,
            timeout=90,
            interval=0.3,
            what="the fee run to compute",
        )
    assert run.chunks_total == len(GROUPS) and run.chunks_done == len(GROUPS)
    assert all(c.status == RunChunk.Status.DONE for c in RunChunk.objects.filter(run=run))
    lines = _lines(run_id)
    assert max(lines.values()) == 1 and sum(lines.values()) > 10

    app.conf.task_always_eager = True
    try:
        reference = run_request(kind="fees", period="2026-03", recompute=True).run
    finally:
        app.conf.task_always_eager = False
    assert Run.objects.get(pk=reference.pk).status == Run.Status.COMPUTED
    assert _lines(reference.pk) == lines
