"""ASGI entry point: everything in the embedded default; only /ws/ in production.

In the embedded default (no REDIS_URL) the server's lifespan also runs the periodic tasks
(console/scheduler.py), so ``make demo`` needs no broker, worker or beat.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

django_asgi_app = get_asgi_application()

from console.scheduler import LifespanScheduler  # noqa: E402 - needs Django set up first

application = LifespanScheduler(django_asgi_app)
