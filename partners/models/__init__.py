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
