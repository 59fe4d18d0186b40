"""LifecycleSignal: receivers inside the sender's transaction, or after its commit."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from transcription_platform.signals import LifecycleSignal

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def send_like_the_pipeline(signal: LifecycleSignal, **named) -> None:
    signal.send_in_transaction(sender=object, **named)
    transaction.on_commit(lambda: signal.send_after_commit(sender=object, **named))


def test_in_transaction_writes_commit_or_roll_back_with_the_change(
    django_capture_on_commit_callbacks,
) -> None:
    signal = LifecycleSignal()
    heard: list[str] = []

    def write(sender, name, **kwargs):
        get_user_model().objects.create(username=name)
        heard.append(f"in:{name}")

    def after(sender, name, **kwargs):
        heard.append(f"after:{name}")

    signal.connect(write, weak=False, in_transaction=True)
    signal.connect(after, weak=False)

    def change_that_rolls_back() -> None:
        with transaction.atomic():
            send_like_the_pipeline(signal, name="rolled-back")
            assert heard == ["in:rolled-back"]  # already, inside the transaction
            raise Boom

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Boom):
        change_that_rolls_back()
    assert not get_user_model().objects.filter(username="rolled-back").exists()
    assert heard == ["in:rolled-back"]  # the after-commit receiver never heard it

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        send_like_the_pipeline(signal, name="kept")
    assert get_user_model().objects.filter(username="kept").exists()
    assert heard[1:] == ["in:kept", "after:kept"]


def test_a_failing_in_transaction_receiver_is_undone_and_logged_not_raised(caplog) -> None:
    signal = LifecycleSignal()
    heard: list[str] = []

    def broken(sender, **kwargs):
        get_user_model().objects.create(username="half-written")
        raise Boom("receiver bug")

    def fine(sender, **kwargs):
        heard.append("fine")

    signal.connect(broken, weak=False, in_transaction=True)
    signal.connect(fine, weak=False, in_transaction=True)
    with transaction.atomic():
        signal.send_in_transaction(sender=object)
        get_user_model().objects.create(username="the-change")  # the transaction goes on
    assert heard == ["fine"]
    assert not get_user_model().objects.filter(username="half-written").exists()
    assert get_user_model().objects.filter(username="the-change").exists()
    assert "receiver bug" in caplog.text


def test_send_calls_every_receiver_and_reconnecting_chooses_again() -> None:
    signal = LifecycleSignal()
    heard: list[str] = []

    def receiver(sender, **kwargs):
        heard.append("heard")

    signal.connect(receiver, weak=False, dispatch_uid="r", in_transaction=True)
    signal.send(sender=object)  # what a test sends by hand
    assert heard == ["heard"]
    assert signal.send_after_commit(sender=object) == []
    signal.disconnect(dispatch_uid="r")
    signal.send_in_transaction(sender=object)
    assert heard == ["heard"]
    signal.connect(receiver, weak=False, dispatch_uid="r")  # after commit, this time
    signal.send_in_transaction(sender=object)
    assert heard == ["heard"]
    assert [response for _, response in signal.send_after_commit(sender=object)] == [None]
    assert heard == ["heard", "heard"]


def test_receivers_of_another_sender_are_left_out() -> None:
    signal = LifecycleSignal()
    heard: list[object] = []

    class Mine:
        pass

    signal.connect(lambda sender, **kw: heard.append(sender), sender=Mine, weak=False)
    signal.send_after_commit(sender=object)
    signal.send_after_commit(sender=Mine)
    assert heard == [Mine]
