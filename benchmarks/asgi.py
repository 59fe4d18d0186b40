"""ASGI applications of the benchmark project (uvicorn), for the streams benchmark.

``application`` is the platform's (`transcription_platform.asgi`); ``django_application``
is Django's stock handler, the reference it is compared with.
"""

from django.core.asgi import get_asgi_application as get_django_asgi_application

from transcription_platform.asgi import get_asgi_application

application = get_asgi_application()
django_application = get_django_asgi_application()
