import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medical_booking.settings")
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

from serving.handlers import OneHopASGIHandler  # noqa: E402

django_app = OneHopASGIHandler(threads=settings.REQUEST_THREADS,
                               auth_threads=settings.AUTH_REQUEST_THREADS)

from realtime.asgi import build_application  # noqa: E402  (needs the apps loaded)

application = build_application(django_app)
