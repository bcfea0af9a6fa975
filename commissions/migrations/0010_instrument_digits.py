# Instruments get their quote digits (min_points counts the instrument's own price point, not pip/10 for every
# symbol). Existing instruments get the default rule of ``models.instruments.default_digits``, restated here so the
# migration never changes with the code: FX → pip places + 1, anything else → pip places.

from decimal import Decimal

from django.db import migrations, models


def _digits(pip_size: Decimal, group: str) -> int:
    places = max(0, -pip_size.normalize().as_tuple().exponent)
    return min(10, places + 1 if group.lower().startswith("forex") else places)


def fill_digits(apps, schema_editor):
    Instrument = apps.get_model("commissions", "Instrument")
    for instrument in Instrument.objects.all():
        instrument.digits = _digits(instrument.pip_size, instrument.group)
        instrument.save(update_fields=["digits"])


class Migration(migrations.Migration):
    dependencies = [
        ("commissions", "0009_attribution_lines_append_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="instrument",
            name="digits",
            field=models.PositiveSmallIntegerField(null=True),
        ),
        migrations.RunPython(fill_digits, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="instrument",
            name="digits",
            field=models.PositiveSmallIntegerField(
                help_text="Quote digits as MT4/MT5 report them: a point, the smallest price step, is 10^-digits "
                "(EURUSD 5, USDJPY 3, a 2-digit XAUUSD 2). min_points counts these points."
            ),
        ),
        migrations.AddConstraint(
            model_name="instrument",
            constraint=models.CheckConstraint(condition=models.Q(digits__lte=10), name="instrument_digits_in_range"),
        ),
    ]
