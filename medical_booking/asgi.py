import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medical_booking.settings")
django_app = get_asgi_application()

from realtime.asgi import build_application  # noqa: E402  (needs the apps loaded)

application = build_application(django_app)
