"""The partner network's permissions, as the API and admin check them, and its share of the roles (core/roles.py)."""

from core.roles import Role, register

VIEW_PROGRAM = "partners.view_program"
CHANGE_PROGRAM = ("partners.add_program", "partners.change_program")
VIEW_PARTNER = "partners.view_partner"
ADD_PARTNER = ("partners.add_partner", "partners.change_partner")
CHANGE_PARTNER = "partners.change_partner"
VIEW_PAYOUT_DETAILS = "partners.view_payout_details"
# Where a partner's money goes is finance's: whoever sets up partners could otherwise point one's payouts at its own
# account just before finance batches them. The payout currency stays with the partner's set-up.
CHANGE_PAYOUT_DETAILS = "partners.change_payout_details"
PAYOUT_DESTINATION = ("payout_method", "payout_account")
VIEW_ACCOUNT = "partners.view_clientaccount"
CHANGE_ACCOUNT = ("partners.add_clientaccount", "partners.change_clientaccount")
# A token for the partner's own login user (never a staff user's: partners.services issues it), so the partner
# permission and no token-model one.
ISSUE_TOKEN = "partners.change_partner"


def sees_payout_details(user) -> bool:
    return bool(user and user.has_perm(VIEW_PAYOUT_DETAILS))


def may_set_payout_details(user) -> bool:
    return bool(user and user.has_perm(CHANGE_PAYOUT_DETAILS))


def payout_destination_changes(partner, values: dict) -> list[str]:
    """The payout-destination fields ``values`` would change on ``partner`` (``None``: a partner being made, whose
    destination is empty) — what takes ``change_payout_details`` beyond changing the partner."""
    return [
        name
        for name in PAYOUT_DESTINATION
        if name in values and (values[name] or "") != (getattr(partner, name) if partner is not None else "")
    ]


def masked_payout_account(account: str) -> str:
    """What a role without ``view_payout_details`` sees of an account: its last four characters, so that support
    can confirm "the account ending 6789" without reading it (``"DE89 3704 0044 0532 0130 00"`` → ``"****3000"``)."""
    if not account:
        return account
    tail = account.replace(" ", "")[-4:]
    return "****" + (tail if len(account.replace(" ", "")) > 8 else "")


def register_roles() -> None:
    register(
        "partners",
        withhold={
            Role.BROKER_ADMIN: {CHANGE_PAYOUT_DETAILS},
            Role.SUPPORT: {VIEW_PAYOUT_DETAILS},
        },
        extra={Role.FINANCE: {VIEW_PAYOUT_DETAILS, CHANGE_PAYOUT_DETAILS}},
    )
