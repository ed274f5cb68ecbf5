from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Temps réel et notifications"

    def ready(self) -> None:
        from . import receivers, schema  # noqa: F401
