from django.apps import AppConfig


class AttenteConfig(AppConfig):
    name = "attente"
    verbose_name = "Liste d'attente et créneaux retenus"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
