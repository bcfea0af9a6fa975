"""The vectorised fee engine equals the day-by-day Decimal reference on every output field."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from mam.engine.fees import compute_fees
from tests.engine.mam_fees.compare import assert_engine_equals_reference
from tests.engine.mam_fees.reference import reference_fees
from tests.engine.mam_fees.strategies import worlds

EQUALITY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@EQUALITY
@given(worlds())
def test_engine_equals_reference_on_every_field(world):
    assert_engine_equals_reference(compute_fees(**world.kwargs()), reference_fees(**world.kwargs()))
