from django.apps import AppConfig


class CommissionsConfig(AppConfig):
    name = "commissions"
    verbose_name = "Commissions and trade feed"

    def ready(self) -> None:
        # Extension points of the layers below: the run framework's kind registry and the partner endpoints' fields.
        from runs.registry import register

        from . import tasks  # noqa: F401  (registers the task names in every process)
        from .api.partner_fields import register as register_partner_fields
        from .services.run_kind import CommissionRunKind

        register(CommissionRunKind())
        register_partner_fields()
