"""ASGI application of the test project, for the uvicorn process of test_asgi.py."""

from django.core.asgi import get_asgi_application

application = get_asgi_application()
