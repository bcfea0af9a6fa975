from .accounts import AccountAttribution, AccountTerms, ClientAccount
from .network import Partner, PartnerLink, PartnerProgram, PartnerStatus, Program, ProgramTerms

__all__ = [
    "AccountAttribution",
    "AccountTerms",
    "ClientAccount",
    "Partner",
    "PartnerLink",
    "PartnerProgram",
    "PartnerStatus",
    "Program",
    "ProgramTerms",
]

# Last: the audit trail's event models, one per tracked model above.
from . import audit  # noqa: F401
