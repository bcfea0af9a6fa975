"""Posting claims (``commissions.models.claims``): PostgreSQL refuses to let two approved commission runs post the
same trade version, or reverse the same one.

The functions and the trigger on ``runs_run`` are written here in SQL (frozen with the migration, as raw SQL in a
migration must be): when a commission run becomes ``computed`` its claims are derived from its lines; when it
becomes ``approved`` they are approved, and the exclusion constraint ``posting_claim_once`` refuses an overlap.
Runs approved before this migration get their claims here, oldest approval first: if two of them already posted
the same version, the migration stops and names it (money posted twice is for a person to look at).
"""

import django.contrib.postgres.constraints
import django.contrib.postgres.fields.ranges
import django.db.models.deletion
import ledger.models.guards
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models


CLAIMS_SQL = r"""
-- Boxes per label of the lines (own period, or the locked period an adjustment names), reversal lines apart: ids
-- and close times of the versions named. RETURN QUERY lets PostgreSQL run the aggregate with parallel workers;
-- a custom plan prunes to the run's partition.
CREATE FUNCTION commissions_claims_boxes(p_run bigint)
RETURNS TABLE (reversal boolean, lo bigint, hi bigint, t0 timestamptz, t1 timestamptz)
LANGUAGE plpgsql STABLE SET work_mem = '64MB' SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    RETURN QUERY
    SELECT x.kind = 'reversal', min(t.id), max(t.id), min(t.close_time), max(t.close_time)
      FROM commissions_attributionline x JOIN commissions_trade t ON t.id = x.trade_id
     WHERE x.run_id = p_run
     GROUP BY x.kind = 'reversal', x.adjusts_period;
END $$;

-- The versions a run reverses, one by one (few: they grow with the corrections).
CREATE FUNCTION commissions_claims_reversed(p_run bigint)
RETURNS TABLE (id bigint, close_time timestamptz)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    RETURN QUERY
    SELECT DISTINCT t.id, t.close_time
      FROM commissions_attributionline x JOIN commissions_trade t ON t.id = x.trade_id
     WHERE x.run_id = p_run AND x.kind = 'reversal';
END $$;

-- A run's claims, derived once from its lines (a run without lines has none and is derived again: nothing to do).
CREATE FUNCTION commissions_claims_derive(p_run bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    box record;
    reverses boolean := false;
BEGIN
    IF EXISTS (SELECT 1 FROM commissions_postingclaim WHERE run_id = p_run) THEN
        RETURN;
    END IF;
    FOR box IN SELECT * FROM commissions_claims_boxes(p_run) LOOP
        IF box.reversal THEN
            reverses := true;
        ELSE
            INSERT INTO commissions_postingclaim (run_id, action, trade_ids, close_times, approved)
            VALUES (p_run, 'post', int8range(box.lo, box.hi, '[]'), tstzrange(box.t0, box.t1, '[]'), false);
        END IF;
    END LOOP;
    IF reverses THEN
        -- Reversals as exact islands of consecutive ids: id - row_number() is constant along an island.
        INSERT INTO commissions_postingclaim (run_id, action, trade_ids, close_times, approved)
        SELECT p_run, 'reverse', int8range(min(r.id), max(r.id), '[]'),
               tstzrange(min(r.close_time), max(r.close_time), '[]'), false
          FROM (SELECT v.id, v.close_time, v.id - row_number() OVER (ORDER BY v.id) AS island
                  FROM commissions_claims_reversed(p_run) v) r
         GROUP BY r.island;
    END IF;
END $$;

-- Approve a run's claims. The exclusion constraint is the guarantee (concurrent approvals included); the check
-- before it only says which version and which run, instead of the constraint's boxes.
CREATE FUNCTION commissions_claims_approve(p_run bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    clash record;
    doubled bigint;
    verb text;
BEGIN
    PERFORM commissions_claims_derive(p_run);
    SELECT c.action, o.run_id AS other, c.trade_ids * o.trade_ids AS ids
      INTO clash
      FROM commissions_postingclaim c
      JOIN commissions_postingclaim o ON o.approved AND o.run_id <> c.run_id AND o.action = c.action
                                     AND o.trade_ids && c.trade_ids AND o.close_times && c.close_times
     WHERE c.run_id = p_run
     ORDER BY lower(c.trade_ids * o.trade_ids)
     LIMIT 1;
    IF FOUND THEN
        SELECT x.trade_id INTO doubled
          FROM commissions_attributionline x
         WHERE x.run_id = p_run AND x.trade_id >= lower(clash.ids) AND x.trade_id < upper(clash.ids)
           AND (x.kind = 'reversal') = (clash.action = 'reverse')
           AND EXISTS (SELECT 1 FROM commissions_attributionline y
                        WHERE y.run_id = clash.other AND y.trade_id = x.trade_id
                          AND (y.kind = 'reversal') = (clash.action = 'reverse'))
         ORDER BY x.trade_id
         LIMIT 1;
        verb := CASE clash.action WHEN 'post' THEN 'posted' ELSE 'reversed' END;
        IF doubled IS NOT NULL THEN
            RAISE EXCEPTION 'trade version % is already % by approved run %', doubled, verb, clash.other
                USING ERRCODE = 'exclusion_violation';
        END IF;
        RAISE EXCEPTION 'the trade versions run % has % (ids %) overlap those approved run % %',
            p_run, verb, clash.ids, clash.other, verb USING ERRCODE = 'exclusion_violation';
    END IF;
    UPDATE commissions_postingclaim SET approved = true WHERE run_id = p_run AND NOT approved;
END $$;

CREATE FUNCTION commissions_run_claims() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'computed' THEN
        PERFORM commissions_claims_derive(NEW.id);
    ELSE
        PERFORM commissions_claims_approve(NEW.id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER commissions_run_claims_insert AFTER INSERT ON runs_run FOR EACH ROW
    WHEN (NEW.kind = 'commissions' AND NEW.status IN ('computed', 'approved'))
    EXECUTE FUNCTION commissions_run_claims();
CREATE TRIGGER commissions_run_claims_update AFTER UPDATE OF status, kind ON runs_run FOR EACH ROW
    WHEN (NEW.kind = 'commissions' AND NEW.status IN ('computed', 'approved')
          AND (OLD.status, OLD.kind) IS DISTINCT FROM (NEW.status, NEW.kind))
    EXECUTE FUNCTION commissions_run_claims();

-- Runs approved before claims existed, oldest approval first.
SELECT commissions_claims_approve(id) FROM runs_run
 WHERE kind = 'commissions' AND status = 'approved' ORDER BY approved_at NULLS FIRST, id;
"""

DROP_CLAIMS_SQL = """
DROP TRIGGER IF EXISTS commissions_run_claims_update ON runs_run;
DROP TRIGGER IF EXISTS commissions_run_claims_insert ON runs_run;
DROP FUNCTION IF EXISTS commissions_run_claims();
DROP FUNCTION IF EXISTS commissions_claims_approve(bigint);
DROP FUNCTION IF EXISTS commissions_claims_derive(bigint);
DROP FUNCTION IF EXISTS commissions_claims_reversed(bigint);
DROP FUNCTION IF EXISTS commissions_claims_boxes(bigint);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('commissions', '0014_late_trade_versions'),
        ('runs', '0001_initial'),
        ('partners', '0001_initial'),  # btree_gist, for ``action WITH =``
    ]

    operations = [
        migrations.CreateModel(
            name='PostingClaim',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('action', models.CharField(choices=[('post', 'Post'), ('reverse', 'Reverse')], max_length=8)),
                ('trade_ids', django.contrib.postgres.fields.ranges.BigIntegerRangeField()),
                ('close_times', django.contrib.postgres.fields.ranges.DateTimeRangeField()),
                ('approved', models.BooleanField(default=False)),
            ],
        ),
        migrations.AddField(
            model_name='postingclaim',
            name='run',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='runs.run'),
        ),
        migrations.AddIndex(
            model_name='postingclaim',
            index=models.Index(fields=['run'], name='posting_claim_run'),
        ),
        migrations.AddConstraint(
            model_name='postingclaim',
            constraint=django.contrib.postgres.constraints.ExclusionConstraint(condition=models.Q(('approved', True)), expressions=[('action', '='), ('trade_ids', '&&'), ('close_times', '&&')], name='posting_claim_once'),
        ),
        # The runs of before get their claims before the claims' guard exists (it admits only the triggers).
        migrations.RunSQL(CLAIMS_SQL, DROP_CLAIMS_SQL),
        pgtrigger.migrations.AddTrigger(
            model_name='attributionline',
            trigger=pgtrigger.compiler.Trigger(name='attributionline_published', sql=ledger.models.guards.GuardSql(func="RAISE EXCEPTION 'the lines of run % are published: no line is added to a computed run', NEW.run_id USING ERRCODE = 'insufficient_privilege';", hash='915d247d9906fef93a0ab6e73da0edf3836753ea', operation='INSERT', pgid='pgtrigger_attributionline_published_61bba', table='commissions_attributionline', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='trade',
            trigger=pgtrigger.compiler.Trigger(name='trade_version_fixed', sql=ledger.models.guards.GuardSql(func="\n                IF (NEW.id, NEW.server, NEW.ticket, NEW.version, NEW.close_time) IS DISTINCT FROM\n                   (OLD.id, OLD.server, OLD.ticket, OLD.version, OLD.close_time) THEN\n                    RAISE EXCEPTION 'trade version % is fixed: a change is a new version', OLD.id\n                        USING ERRCODE = 'insufficient_privilege';\n                END IF;\n                RETURN NEW;\n                ", hash='24d460a4ca059897d372ec665b2bea19e90ec602', operation='UPDATE OF "id", "server", "ticket", "version", "close_time"', pgid='pgtrigger_trade_version_fixed_5e3b5', table='commissions_trade', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='postingclaim',
            trigger=pgtrigger.compiler.Trigger(name='postingclaim_derived_only', sql=ledger.models.guards.GuardSql(func="\nIF TG_OP = 'DELETE' THEN\n    RAISE EXCEPTION 'posting claims are never deleted' USING ERRCODE = 'insufficient_privilege';\nEND IF;\nIF pg_trigger_depth() < 2 THEN\n    RAISE EXCEPTION 'posting claims are derived by the database from a run''s lines; they cannot be written directly'\n        USING ERRCODE = 'insufficient_privilege';\nEND IF;\nIF TG_OP = 'UPDATE' AND (\n    (NEW.run_id, NEW.action, NEW.trade_ids, NEW.close_times) IS DISTINCT FROM\n    (OLD.run_id, OLD.action, OLD.trade_ids, OLD.close_times) OR (OLD.approved AND NOT NEW.approved)) THEN\n    RAISE EXCEPTION 'a posting claim only goes from unapproved to approved' USING ERRCODE = 'insufficient_privilege';\nEND IF;\nRETURN NEW;\n", hash='2e42bfb530646126632300fdd13effb64f55deb3', operation='INSERT OR UPDATE OR DELETE', pgid='pgtrigger_postingclaim_derived_only_88846', table='commissions_postingclaim', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='postingclaim',
            trigger=pgtrigger.compiler.Trigger(name='postingclaim_no_truncate', sql=ledger.models.guards.GuardSql(func="RAISE EXCEPTION 'ledger: % is append-only: TRUNCATE is refused', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; RETURN NULL;", hash='f60a066833611e69f856c72fedde1332e06b911e', level='STATEMENT', operation='TRUNCATE', pgid='pgtrigger_postingclaim_no_truncate_fd8bc', table='commissions_postingclaim', when='BEFORE')),
        ),
    ]
