"""Signals of the billing app.

Connect receivers in your app's ``ready()``::

    from transcription_platform.billing.signals import usage_recorded
"""

from django.dispatch import Signal

#: A usage record was appended to the ledger; sent after commit, once per record.
#: ``sender=UsageRecord``. Args: ``record`` (the committed UsageRecord).
usage_recorded = Signal()

#: A create was refused because it would go over a budget. ``sender=None``. Args:
#: ``user``, ``details`` (the 402's details: limit, scope, used, remaining, resets_at).
#: Sent once the refused create's transaction has rolled back (nothing of the create is
#: stored), once per refusal: use it for logs, metrics or notifications. When the create
#: itself ran inside an outer transaction of the caller (``ATOMIC_REQUESTS``), a
#: receiver's writes belong to that outer transaction.
quota_exceeded = Signal()
