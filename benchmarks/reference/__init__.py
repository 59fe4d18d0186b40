"""What a developer would write without the platform: the API benchmark's references.

The same model, the same JWT (ninja_jwt, HS256), a page of 20 and the same output
fields, with none of the platform's features (no rate limits, no roles, no audit, no
filters): :mod:`.plain_ninja` as a plain django-ninja API, :mod:`.drf` as a Django
REST framework ``ModelViewSet``. Both are served by the benchmark's gunicorn next to the
platform, so every figure is a ratio measured in one run.
"""
