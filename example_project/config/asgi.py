"""ASGI entry point (uvicorn ``config.asgi:application``); production settings by default.

The platform's application: Django's, minus a thread per long-lived request (event
streams, OpenAI-compatible waits); see docs/notifications.md.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

from transcription_platform.asgi import get_asgi_application

application = get_asgi_application()
