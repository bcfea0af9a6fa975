from django.apps import AppConfig


class MamConfig(AppConfig):
    name = "mam"
    verbose_name = "MAM groups and allocation"

    def ready(self) -> None:
        from .permissions import register_roles

        register_roles()
        # Extension points of the layers below: the run framework's kind registry, the back-dating guard and the
        # ledger's reconciliation checks.
        from core.history import Area, register_history_guard
        from ledger.reconciliation.registry import register as register_check
        from ledger.services.locks import approvals_hold, locked_since
        from runs.registry import register

        from .reconciliation import FeePostingsCheck
        from .services.fee_run import FeeRunKind

        kind = FeeRunKind()
        register(kind)
        # The fee check of a period's reconciliation (the ledger's check registry).
        register_check(FeePostingsCheck())
        # Fee terms and IBs price fees: a dated change of them reaching into an approved fee period is refused
        # (core.history); plans, rebates, instruments, rates and accounts' commission terms are no fee's, so a fee
        # month's approval does not hold them back. It holds fee approvals off while any dated change commits, so an
        # approval counts it (as commissions does).
        register_history_guard(
            kind.name,
            lambda since: locked_since(kind=kind.name, since=since),
            hold=lambda: approvals_hold(kind=kind.name),
            # The IB of the fee share is the account's (attribution), among partners as they stand (tree, status).
            reads={Area.MAM_FEE_TERMS, Area.ATTRIBUTION, Area.TREE},
        )
