from .accounts import AccountAttribution, AccountTerms, ClientAccount
from .network import Partner, PartnerLink, PartnerProgram, PartnerStatus, Program, ProgramTerms
from .tokens import PartnerToken

__all__ = [
    "AccountAttribution",
    "AccountTerms",
    "ClientAccount",
    "Partner",
    "PartnerLink",
    "PartnerProgram",
    "PartnerStatus",
    "PartnerToken",
    "Program",
    "ProgramTerms",
]

# Last: the audit trail's event models, one per tracked model above.
from . import audit  # noqa: F401
