from .accounts import AccountAttribution, ClientAccount
from .network import Partner, PartnerLink, Program

__all__ = ["AccountAttribution", "ClientAccount", "Partner", "PartnerLink", "Program"]
