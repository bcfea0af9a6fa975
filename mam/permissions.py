"""The MAM app's permissions (groups, members, equity, cash flows, master trades, fees) and its share of the roles."""

from core.roles import register

VIEW_GROUP = "mam.view_mamgroup"
CHANGE_GROUP = ("mam.add_mamgroup", "mam.change_mamgroup")
VIEW_MEMBER = "mam.view_member"
CHANGE_MEMBER = ("mam.add_member", "mam.change_member")
VIEW_ALLOCATION = "mam.view_allocation"
VIEW_EQUITY = "mam.view_equitysnapshot"
CHANGE_EQUITY = ("mam.add_equitysnapshot", "mam.change_equitysnapshot")
VIEW_CASH_FLOW = "mam.view_cashflow"
CHANGE_CASH_FLOW = ("mam.add_cashflow", "mam.change_cashflow")
VIEW_MASTER_TRADE = "mam.view_mastertrade"
ADD_MASTER_TRADE = ("mam.add_mastertrade", "mam.add_allocation")
CLOSE_MASTER_TRADE = ("mam.add_masterclose", "mam.add_subclose")
VIEW_FEE = "mam.view_feeline"


def register_roles() -> None:
    register("mam")
