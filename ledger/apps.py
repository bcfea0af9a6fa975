from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger: currencies, rates and the journal"

    def ready(self) -> None:
        from .permissions import register_roles

        register_roles()
        # Fail at start, not at the first posting in a misconfigured currency (in the middle of an approval): every
        # process (web, worker, command) validates IBEX_CURRENCY_MINOR_UNITS before it serves anything.
        from .models.currencies import configured_minor_units

        configured_minor_units()

        # The ledger's own reconciliation checks; the apps above register theirs the same way (extension point).
        from .reconciliation.ledger_checks import TrialBalanceCheck, UnreconciledPostingsCheck
        from .reconciliation.payout_checks import PayoutsCheck
        from .reconciliation.registry import register

        register(TrialBalanceCheck())
        register(UnreconciledPostingsCheck())
        register(PayoutsCheck())
