"""The serving process's entry point: ``daphne medical_booking.asgi:application``.

The serving machinery (``serving/``) is installed here, at start-up, before the
application is built: nothing else installs it (tests and ``manage.py`` commands import
the apps and run the libraries as shipped).
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medical_booking.settings")
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

import serving  # noqa: E402
from serving import daphne_tuning, graceful  # noqa: E402

serving.install(settings)
django_app = serving.request_handler(settings)

from outbox.worker import start_outbox  # noqa: E402
from realtime.asgi import SOCKETIO_PATH, build_application  # noqa: E402  (needs the apps loaded)


def _on_start() -> None:
    serving.start(settings)
    start_outbox()  # the outbox's sender (e-mail, SMS), beside the reminder scheduler
    if daphne_tuning.under_daphne():
        graceful.install(application, settings.SHUTDOWN_TIMEOUT_SECONDS)  # SIGTERM drains


# Outermost: counts requests in progress, refuses new ones while a SIGTERM drains.
application = graceful.Draining(build_application(django_app, on_start=_on_start), SOCKETIO_PATH)
