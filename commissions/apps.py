from django.apps import AppConfig


class CommissionsConfig(AppConfig):
    name = "commissions"
    verbose_name = "Commissions and trade feed"

    def ready(self) -> None:
        from .permissions import register_roles

        register_roles()
        # Extension points of the layers below: the run framework's kind registry, the partner endpoints' fields and
        # the ledger's reconciliation checks.
        from core.history import Area, register_history_guard
        from ledger.reconciliation.registry import register as register_check
        from ledger.services.locks import approvals_hold, locked_since
        from runs.registry import register

        from . import tasks  # noqa: F401  (registers the task names in every process)
        from .api.partner_fields import register as register_partner_fields
        from .reconciliation import CommissionPostingsCheck, CommissionTradesCheck
        from .services.run_kind import CommissionRunKind

        kind = CommissionRunKind()
        register(kind)
        register_partner_fields()
        # The commission checks of a period's reconciliation (the ledger's check registry).
        register_check(CommissionTradesCheck())
        register_check(CommissionPostingsCheck())
        # Parents, plans, attributions and rebates price commission trades: a change reaching into an approved
        # commission period is refused (core.history).
        register_history_guard(
            kind.name,
            lambda since: locked_since(kind=kind.name, since=since),
            hold=lambda: approvals_hold(kind=kind.name),
            reads={
                Area.TREE,
                Area.PLANS,
                Area.ATTRIBUTION,
                Area.ACCOUNT_TERMS,
                Area.INSTRUMENTS,
                Area.RATES,
            },
        )
