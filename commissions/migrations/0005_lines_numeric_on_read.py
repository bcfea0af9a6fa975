"""Lines keep one generated NUMERIC column (``amount``, which sums and the journal read); base, rate and multiplier
are read as exact Decimals from their micro-unit columns. The (account, period) index goes: no query reads lines by
the trade's account, and each index costs a sort of every line of every run."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('commissions', '0004_lines_partitioned_by_run'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='attributionline',
            name='commissions_account_b51aed_idx',
        ),
        migrations.RemoveField(
            model_name='attributionline',
            name='base',
        ),
        migrations.RemoveField(
            model_name='attributionline',
            name='multiplier',
        ),
        migrations.RemoveField(
            model_name='attributionline',
            name='rate',
        ),
    ]
