"""Signals of the notifications app, sent after the change is committed."""

from django.dispatch import Signal

#: An endpoint was disabled automatically: it answered 410 Gone, or its last
#: ``WEBHOOK_DISABLE_AFTER_FAILURES`` messages all failed. Sent with
#: ``sender=WebhookEndpoint``. Args: ``endpoint`` (the instance; ``endpoint.owner`` is
#: the user to tell), ``reason`` (``"gone"`` or ``"consecutive_failures"``).
webhook_endpoint_disabled = Signal()
