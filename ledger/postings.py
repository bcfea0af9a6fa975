"""What a posting is: legs on accounts named by what they are for. Plain data, no writes: the run kinds describe
their postings with these (``RunKind.postings``), and only ``ledger.services.posting.journal_post`` posts them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .vocabulary import Purpose


@dataclass(frozen=True)
class AccountRef:
    """Names a ledger account: its purpose, currency and owner (a partner, a client account, or none)."""

    purpose: Purpose
    currency: str
    partner_id: int | None = None
    client_account_id: int | None = None

    def key(self) -> tuple:
        return (str(self.purpose), self.currency, self.partner_id, self.client_account_id)

    def default_name(self) -> str:
        owner = ""
        if self.partner_id is not None:
            owner = f" partner {self.partner_id}"
        elif self.client_account_id is not None:
            owner = f" account {self.client_account_id}"
        return f"{Purpose(self.purpose).label} {self.currency}{owner}"


@dataclass(frozen=True)
class Leg:
    account: AccountRef
    amount: Decimal
    exact: bool = False  # keep the amount at up to 6 places instead of rounding it to the minor unit


@dataclass(frozen=True)
class Posting:
    source_key: str
    kind: str
    period: str
    currency: str
    legs: tuple[Leg, ...]
    memo: str = ""
