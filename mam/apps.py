from django.apps import AppConfig


class MamConfig(AppConfig):
    name = "mam"
    verbose_name = "MAM groups and allocation"

    def ready(self) -> None:
        # Extension points of the layers below: the run framework's kind registry and the back-dating guard.
        from core.history import register_history_guard
        from ledger.services.locks import locked_since
        from runs.registry import register

        from .services.fee_run import FeeRunKind

        kind = FeeRunKind()
        register(kind)
        # Fee terms and IBs price fees: a dated change reaching into an approved fee period is refused (core.history).
        register_history_guard(kind.name, lambda since: locked_since(kind=kind.name, since=since))
