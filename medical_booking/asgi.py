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

serving.install(settings)
django_app = serving.request_handler(settings)

from realtime.asgi import build_application  # noqa: E402  (needs the apps loaded)

application = build_application(django_app, on_start=lambda: serving.start(settings))
