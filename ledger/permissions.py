"""The ledger's permissions (currencies, rates, journal, locks, payouts, reconciliation) and its share of the roles
(core/roles.py): paying is finance's, not the broker admin's."""

from core.roles import Role, register

VIEW_RATE = "ledger.view_conversionrate"
CHANGE_RATE = ("ledger.add_conversionrate", "ledger.change_conversionrate")
VIEW_JOURNAL = "ledger.view_journaltransaction"
VIEW_RECONCILIATION = "ledger.view_reconciliation"
EXPORT_BALANCE_OPERATIONS = "ledger.export_balance_operations"
VIEW_PAYOUT = "ledger.view_payoutbatch"
ADD_PAYOUT = "ledger.add_payoutbatch"
CHANGE_PAYOUT = "ledger.change_payoutbatch"
APPROVE_PAYOUT = "ledger.approve_payoutbatch"
EXPORT_PAYOUT = "ledger.export_payoutbatch"
PAY_PAYOUT = "ledger.pay_payoutbatch"

# Paying is finance's alone: making, discarding, approving, exporting and paying batches, and the platform balance
# operations (client rebates, MAM fees) that move money into client accounts.
PAYOUT_WRITES = {
    f"ledger.{action}_{model}"
    for action in ("add", "change", "delete")
    for model in ("payoutbatch", "payoutline", "payoutitem")
}
FINANCE_ONLY = {APPROVE_PAYOUT, EXPORT_PAYOUT, PAY_PAYOUT, EXPORT_BALANCE_OPERATIONS, *PAYOUT_WRITES}


def register_roles() -> None:
    register(
        "ledger",
        withhold={Role.BROKER_ADMIN: FINANCE_ONLY, Role.SUPPORT: {VIEW_RECONCILIATION}},
        extra={Role.FINANCE: {*CHANGE_RATE, VIEW_RECONCILIATION, *{p for p in FINANCE_ONLY if ".delete_" not in p}}},
    )
