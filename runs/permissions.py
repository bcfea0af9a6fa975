"""The run framework's permissions and its share of the roles (core/roles.py)."""

from core.roles import Role, register

VIEW_RUN = "runs.view_run"
REQUEST_RUN = "runs.add_run"
APPROVE_RUN = "runs.approve_run"


def register_roles() -> None:
    # Finance approves what it will pay; the broker admin computes and may approve too.
    register("runs", extra={Role.FINANCE: {APPROVE_RUN}})
