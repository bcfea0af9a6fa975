"""A line's ``amount`` is the exact decimal of its ``amount_micros`` over the whole bigint range, for every generated
micros → decimal column (commission lines and fee lines): the generated column PostgreSQL computes (its expression
read back from the catalog, so this checks what the database really does) equals micros / 10^6 computed in Python's
Decimal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import example, given, settings
from hypothesis import strategies as st

from commissions.models import AttributionLine
from mam.models import FeeLine

pytestmark = pytest.mark.django_db

# Every model with an ``amount`` generated from ``amount_micros``.
MICROS_AMOUNT_MODELS = [AttributionLine, FeeLine]


def _generated_expression(model) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
            "ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = %s::regclass AND a.attname = 'amount'",
            [model._meta.db_table],
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("model", MICROS_AMOUNT_MODELS, ids=lambda model: model.__name__)
def test_the_amount_column_is_exact_over_the_bigint_range(model):
    expression = _generated_expression(model)

    @settings(max_examples=300, deadline=None)
    @given(micros=st.integers(min_value=-(2**63), max_value=2**63 - 1))
    @example(micros=1_234_567_890_123_456_789)  # 13 integer digits: a scale-0 quotient kept only 4 decimals of it
    @example(micros=-(2**63))
    @example(micros=1)
    def check(micros):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {expression} FROM (VALUES (%s::text::bigint)) AS t(amount_micros)", [str(micros)])
            (amount,) = cursor.fetchone()
        assert amount == Decimal(micros).scaleb(-6)

    check()
