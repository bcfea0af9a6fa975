"""The commission app's permissions (reference data, trades, plans, rebates, lines) and its share of the roles."""

from core.roles import register

VIEW_INSTRUMENT = "commissions.view_instrument"
CHANGE_INSTRUMENT = ("commissions.add_instrument", "commissions.change_instrument")
VIEW_SUFFIX = "commissions.view_symbolsuffix"
CHANGE_SUFFIX = ("commissions.add_symbolsuffix", "commissions.change_symbolsuffix")
VIEW_TRADE = "commissions.view_trade"
ADD_TRADE = ("commissions.add_trade", "commissions.change_trade")
VIEW_IMPORT = "commissions.view_tradeimport"
VIEW_PLAN = "commissions.view_plan"
CHANGE_PLAN = ("commissions.add_plan", "commissions.change_plan")
VIEW_REBATE = "commissions.view_rebate"
CHANGE_REBATE = ("commissions.add_rebate", "commissions.change_rebate")
VIEW_LINE = "commissions.view_attributionline"


def register_roles() -> None:
    register("commissions")
