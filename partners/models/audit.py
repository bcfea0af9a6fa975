"""What the audit trail tracks of the partner network (``core.models.tracked``; README "Audit trail"): programs and
their dated terms, partners (payout details included) and their dated parents, statuses and programs, and each
account's dated IB and terms — every insert, update and delete, with who made it and how.

Not tracked: ``ClientAccount`` itself, the CRM's feed (its group and ``earns_commission`` flag, the fields a
commission depends on, are tracked as the dated ``AccountTerms``).
"""

from core.models import tracked

from .accounts import AccountAttribution, AccountTerms
from .network import Partner, PartnerLink, PartnerProgram, PartnerStatus, Program, ProgramTerms

TRACKED = (Program, ProgramTerms, Partner, PartnerLink, PartnerStatus, PartnerProgram, AccountAttribution, AccountTerms)
for model in TRACKED:
    tracked()(model)
