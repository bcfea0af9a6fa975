"""Joins the fee-run and the reason-length branches of the MAM migrations (both made from 0001)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("mam", "0002_fee_runs"),
        ("mam", "0003_allocation_reasons"),
    ]

    operations: list = []
