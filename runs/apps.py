from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Runs"

    def ready(self) -> None:
        from .permissions import register_roles

        register_roles()
        # The services send tasks by name (``runs.dispatch``): register them in every process, not only in workers.
        from . import tasks  # noqa: F401
