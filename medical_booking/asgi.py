import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medical_booking.settings")
django.setup(set_prefix=False)

from medical_booking.handlers import OneHopASGIHandler  # noqa: E402

django_app = OneHopASGIHandler()

from realtime.asgi import build_application  # noqa: E402  (needs the apps loaded)

application = build_application(django_app)
