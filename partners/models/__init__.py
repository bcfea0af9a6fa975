from .accounts import AccountAttribution, AccountTerms, ClientAccount
from .network import Partner, PartnerLink, PartnerStatus, Program, ProgramTerms

__all__ = [
    "AccountAttribution",
    "AccountTerms",
    "ClientAccount",
    "Partner",
    "PartnerLink",
    "PartnerStatus",
    "Program",
    "ProgramTerms",
]
