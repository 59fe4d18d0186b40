"""Lifecycle signals, sent after the change is committed.

Every transcription signal is sent with ``sender=Transcription`` and ``transcription``
(the instance, as committed); ``user_signed_up`` with the user model as sender.
Connect receivers in your app's ``ready()``::

    from transcription_platform.signals import transcription_completed

    @receiver(transcription_completed)
    def notify(sender, transcription, **kwargs): ...
"""

from django.dispatch import Signal

#: A transcription was created and its job enqueued. Args: ``transcription``.
transcription_created = Signal()

#: A worker started (or resumed) processing. Args: ``transcription``.
transcription_started = Signal()

#: The job's ``progress`` (0-100) moved forward while processing (throttled by the
#: pipeline: a few times per chunk at most). Args: ``transcription``.
transcription_progress = Signal()

#: A failed job was sent back to pending by ``retry``. Args: ``transcription``.
transcription_retried = Signal()

#: The transcript was saved. Args: ``transcription``.
transcription_completed = Signal()

#: The job failed for good. Args: ``transcription``, ``error_code``, ``error_message``.
transcription_failed = Signal()

#: The job was cancelled by its owner or staff. Args: ``transcription``.
transcription_cancelled = Signal()

#: Analysis of a transcript finished. Args: ``transcription``, ``analysis``.
analysis_completed = Signal()

#: Analysis of a transcript failed for good (the transcript is kept). Args:
#: ``transcription``, ``analysis`` (its tokens, spent before the failure, included),
#: ``error_code``, ``error_message``.
analysis_failed = Signal()

#: A person created an account (registration, or a first single sign-on), sent after
#: commit with ``sender=`` the user model. Args: ``user``, ``method`` (``"password"`` or
#: ``"oidc"``). Accounts made by staff (admin, ``createsuperuser``) send nothing.
user_signed_up = Signal()
