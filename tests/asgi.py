"""ASGI application of the test project, for the uvicorn processes the tests start:
the platform's (long-lived requests hold no thread)."""

from transcription_platform.asgi import get_asgi_application

application = get_asgi_application()
