"""The partner network's permissions, as the API and admin check them, and its share of the roles (core/roles.py)."""

from core.roles import Role, register

VIEW_PROGRAM = "partners.view_program"
CHANGE_PROGRAM = ("partners.add_program", "partners.change_program")
VIEW_PARTNER = "partners.view_partner"
ADD_PARTNER = ("partners.add_partner", "partners.change_partner")
CHANGE_PARTNER = "partners.change_partner"
VIEW_PAYOUT_DETAILS = "partners.view_payout_details"
VIEW_ACCOUNT = "partners.view_clientaccount"
CHANGE_ACCOUNT = ("partners.add_clientaccount", "partners.change_clientaccount")
# A token for the partner's own login user (never a staff user's: partners.services issues it), so the partner
# permission and no token-model one.
ISSUE_TOKEN = "partners.change_partner"


def sees_payout_details(user) -> bool:
    return bool(user and user.has_perm(VIEW_PAYOUT_DETAILS))


def masked_payout_account(account: str) -> str:
    """What a role without ``view_payout_details`` sees of an account: its last four characters, so that support
    can confirm "the account ending 6789" without reading it (``"DE89 3704 0044 0532 0130 00"`` → ``"****3000"``)."""
    if not account:
        return account
    tail = account.replace(" ", "")[-4:]
    return "****" + (tail if len(account.replace(" ", "")) > 8 else "")


def register_roles() -> None:
    register("partners", withhold={Role.SUPPORT: {VIEW_PAYOUT_DETAILS}}, extra={Role.FINANCE: {VIEW_PAYOUT_DETAILS}})
