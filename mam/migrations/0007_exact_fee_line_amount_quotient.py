"""A fee line's ``amount`` keeps all six decimals however large it is: the quotient's dividend is numeric(26,6), as
commission lines' (commissions 0016), since PostgreSQL keeps only about 16 significant digits of a quotient of
scale-0 operands (1234567890123456789 / 1000000 came out as 1234567890123.4568). Django cannot alter a generated
column, so the column is dropped and re-added (a rewrite of every partition); nothing else refers to it."""

from decimal import Decimal

import django.db.models.expressions
import django.db.models.functions.comparison
from django.db import migrations, models

FORWARD = """
ALTER TABLE mam_feeline DROP COLUMN amount;
ALTER TABLE mam_feeline ADD COLUMN amount numeric(20, 6)
    GENERATED ALWAYS AS ((amount_micros)::numeric(26, 6) / 1000000::numeric) STORED;
"""
BACKWARD = """
ALTER TABLE mam_feeline DROP COLUMN amount;
ALTER TABLE mam_feeline ADD COLUMN amount numeric(20, 6)
    GENERATED ALWAYS AS ((amount_micros)::numeric(24, 0) / 1000000::numeric) STORED;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("mam", "0006_audit_trail"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, BACKWARD)],
            state_operations=[
                migrations.AlterField(
                    model_name="feeline",
                    name="amount",
                    field=models.GeneratedField(
                        db_persist=True,
                        expression=django.db.models.expressions.CombinedExpression(
                            django.db.models.functions.comparison.Cast(
                                models.F("amount_micros"), models.DecimalField(decimal_places=6, max_digits=26)
                            ),
                            "/",
                            models.Value(Decimal("1000000")),
                        ),
                        output_field=models.DecimalField(decimal_places=6, max_digits=20),
                    ),
                ),
            ],
        ),
    ]
