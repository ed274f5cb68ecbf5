from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "outbox"
    verbose_name = "Envois aux patients (e-mail, SMS)"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
