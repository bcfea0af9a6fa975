"""The ledger's vocabularies: account natures and purposes, and which nature each purpose has.

Pure: standard library and ``core.vocabulary`` only.
"""

from __future__ import annotations

from core.vocabulary import Vocabulary


class Nature(Vocabulary):
    """The accounting nature of a ledger account: assets and expenses carry debit balances (> 0), liabilities,
    income and equity credit balances (< 0)."""

    ASSET = "asset", "Asset"
    LIABILITY = "liability", "Liability"
    INCOME = "income", "Income"
    EXPENSE = "expense", "Expense"
    EQUITY = "equity", "Equity"


class Purpose(Vocabulary):
    """What a ledger account is for. Payables are owed to their owner (a partner, a client account); the others
    are the broker's own accounts and have no owner."""

    PARTNER_PAYABLE = "partner_payable", "Partner payable"
    CLIENT_PAYABLE = "client_payable", "Client rebate payable"
    MANAGER_PAYABLE = "manager_payable", "Money manager payable"
    INVESTOR_FEE_CHARGE = "investor_fee_charge", "Investor fee charge"
    COMMISSION_EXPENSE = "commission_expense", "Commission expense"
    FEE_SHARE_EXPENSE = "fee_share_expense", "Fee-share expense"
    PAYOUT_CLEARING = "payout_clearing", "Payout clearing"
    BANK = "bank", "Bank"
    ROUNDING = "rounding", "Rounding"


PURPOSE_NATURE: dict[Purpose, Nature] = {
    Purpose.PARTNER_PAYABLE: Nature.LIABILITY,
    Purpose.CLIENT_PAYABLE: Nature.LIABILITY,
    Purpose.MANAGER_PAYABLE: Nature.LIABILITY,
    # The broker holds the investor's money: a fee charged to it lowers that liability (a debit on it).
    Purpose.INVESTOR_FEE_CHARGE: Nature.LIABILITY,
    Purpose.COMMISSION_EXPENSE: Nature.EXPENSE,
    Purpose.FEE_SHARE_EXPENSE: Nature.EXPENSE,
    # Money on its way out to partners: credited when a payout is marked paid, debited when the bank confirms it.
    Purpose.PAYOUT_CLEARING: Nature.LIABILITY,
    Purpose.BANK: Nature.ASSET,
    Purpose.ROUNDING: Nature.EXPENSE,
}

# Who owns an account of each purpose: a partner, a client account, or nobody (the broker's own accounts).
PARTNER_OWNED = frozenset({Purpose.PARTNER_PAYABLE, Purpose.MANAGER_PAYABLE})
CLIENT_OWNED = frozenset({Purpose.CLIENT_PAYABLE, Purpose.INVESTOR_FEE_CHARGE})
