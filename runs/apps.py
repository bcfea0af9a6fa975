from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Runs"

    def ready(self) -> None:
        from .permissions import register_roles

        register_roles()
        from ledger.reconciliation.labels import register_source_labeler

        from .labels import run_key_labels

        register_source_labeler("run", run_key_labels)
        # The services send tasks by name (``runs.dispatch``): register them in every process, not only in workers.
        from . import tasks  # noqa: F401
