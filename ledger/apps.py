from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger: currencies, rates and the journal"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the ledger's system checks)
