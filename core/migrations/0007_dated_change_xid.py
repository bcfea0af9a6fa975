from django.db import migrations, models
from django.db.models import Func


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0006_dated_change_reach"),
    ]

    operations = [
        migrations.AddField(
            model_name="datedchange",
            name="xid",
            field=models.BigIntegerField(
                db_default=Func(template="(pg_current_xact_id()::text)::bigint", output_field=models.BigIntegerField()),
                null=True,
            ),
        ),
    ]
