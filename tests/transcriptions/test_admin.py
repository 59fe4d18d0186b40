"""The transcriptions admin: changelist, read-only transcript, actions, deletion."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.admin import helpers
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.db.models.signals import pre_save
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.fixtures.storage import stored_files
from transcription_platform.audit.models import AuditLog
from transcription_platform.engines import probe
from transcription_platform.transcriptions import services, tasks
from transcription_platform.transcriptions.models import Transcription, TranscriptionStatus
from transcription_platform.transcriptions.validation import JobOptions

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:transcription_platform_transcriptions_transcription_changelist"
CHANGE = "admin:transcription_platform_transcriptions_transcription_change"
DELETE = "admin:transcription_platform_transcriptions_transcription_delete"
ADD = "admin:transcription_platform_transcriptions_transcription_add"


def make(owner, path: Path, *, title: str = "", language: str = "", run: bool = False):
    """A stored transcription through the services (``run``: its real pipeline too)."""
    info = probe(str(path))
    transcription, _ = services.create_transcription(
        owner=owner,
        audio=services.AudioFile(path, path.name, path.stat().st_size, "audio/wav"),
        info=info,
        options=JobOptions(engine="default", language=language, prompt="", title=title),
        enqueue=False,
    )
    if run:
        tasks.process_transcription(str(transcription.pk), in_process=True)
    return Transcription.objects.get(pk=transcription.pk)


def changelist(client, **params):
    response = client.get(reverse(CHANGELIST), params)
    assert response.status_code == 200
    return response


def listed(response) -> set:
    return {obj.pk for obj in response.context["cl"].result_list}


def post_action(client, action: str, *objects):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(o.pk) for o in objects]},
        follow=True,
    )


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def test_changelist_filters_and_search(admin_client, user, other_user, tone_wav) -> None:
    alice_done = make(user, tone_wav, title="Board meeting", language="en", run=True)
    alice_failed = make(user, tone_wav, title="Interview")
    services.fail(alice_failed.pk, "engine_rejected", "Rejected.")
    bob_pending = make(other_user, tone_wav)

    response = changelist(admin_client)
    assert listed(response) == {alice_done.pk, alice_failed.pk, bob_pending.pk}
    page = response.content.decode()
    assert "Board meeting" in page
    assert "tone.wav" in page
    assert "100%" in page
    assert "0:06.000" in page

    assert listed(changelist(admin_client, status__exact="failed")) == {alice_failed.pk}
    assert listed(changelist(admin_client, language__exact="en")) == {alice_done.pk}
    assert len(listed(changelist(admin_client, engine="default"))) == 3
    year = alice_done.created_at.year
    assert len(listed(changelist(admin_client, created_at__year=year))) == 3
    assert listed(changelist(admin_client, q="bob@example.com")) == {bob_pending.pk}
    assert listed(changelist(admin_client, q="alice")) == {alice_done.pk, alice_failed.pk}
    assert listed(changelist(admin_client, q="interview")) == {alice_failed.pk}
    assert listed(changelist(admin_client, q=str(bob_pending.pk))) == {bob_pending.pk}
    assert listed(changelist(admin_client, q="no-such-thing")) == set()


def test_changelist_queries_do_not_grow_with_rows(admin_client, user, other_user, tone_wav):
    make(user, tone_wav)
    make(other_user, tone_wav)
    with CaptureQueriesContext(connection) as two_rows:
        changelist(admin_client)
    for owner in (user, other_user, user, other_user):
        make(owner, tone_wav)
    with CaptureQueriesContext(connection) as six_rows:
        changelist(admin_client)
    assert len(six_rows) == len(two_rows)


def test_change_view_shows_the_transcript_read_only_and_escaped(
    admin_client, user, tone_wav, settings
) -> None:
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "ENGINES": {
            "default": {
                "BACKEND": "transcription_platform.engines.fake.FakeEngine",
                "OPTIONS": {"text": "<script>alert(1)</script> Tom & Jerry"},
            }
        },
    }
    transcription = make(user, tone_wav, run=True)
    assert transcription.status == TranscriptionStatus.COMPLETED

    response = admin_client.get(reverse(CHANGE, args=[transcription.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Tom &amp; Jerry" in page
    assert "<th>Start</th><th>End</th>" in page  # the segments table
    first = transcription.segments[0]
    assert f"<td>0:{first['start']:06.3f}</td>" in page
    # Only the title is a form field; the job and its result are not editable.
    form = response.context["adminform"].form
    assert list(form.fields) == ["title"]
    # The chunks, read-only.
    inline = response.context["inline_admin_formsets"][0]
    assert inline.formset.queryset.count() == transcription.chunks.count() >= 1
    assert not inline.has_change_permission
    assert not inline.has_add_permission
    assert re.search(r"<td class=\"field-status\">\s*<p>Done</p>", page)  # chunk status


def test_saving_the_form_writes_only_the_title(admin_client, user, tone_wav) -> None:
    transcription = make(user, tone_wav)
    cancelled_meanwhile = []

    def cancel_meanwhile(sender, instance, **kwargs) -> None:
        # Another actor cancels between the admin loading the row and saving it.
        if instance.title == "Renamed" and not cancelled_meanwhile:
            cancelled_meanwhile.append(services.cancel(instance))

    url = reverse(CHANGE, args=[transcription.pk])
    data = {"title": "Renamed"}
    # The management forms of every inline on the page (other apps add their own).
    for inline in admin_client.get(url).context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(k): v for k, v in management.initial.items()})

    pre_save.connect(cancel_meanwhile, sender=Transcription)
    try:
        response = admin_client.post(url, data)
    finally:
        pre_save.disconnect(cancel_meanwhile, sender=Transcription)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert cancelled_meanwhile
    transcription.refresh_from_db()
    assert (transcription.title, transcription.status) == ("Renamed", TranscriptionStatus.CANCELLED)


def test_no_add_from_the_admin(admin_client) -> None:
    assert admin_client.get(reverse(ADD)).status_code == 403
    assert reverse(ADD) not in changelist(admin_client).content.decode()


def test_retry_action_goes_through_services_and_reports_each_object(
    admin_client, user, tone_wav, django_capture_on_commit_callbacks
) -> None:
    failed = make(user, tone_wav, title="Broken")
    services.fail(failed.pk, "engine_rejected", "Rejected.")
    completed = make(user, tone_wav, title="Fine", run=True)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(admin_client, "retry_transcriptions", failed, completed)

    assert response.status_code == 200
    assert messages_of(response) == [
        ("warning", "“Fine”: A completed transcription cannot become pending."),
        ("success", "Retried 1 transcription(s): “Broken”."),
    ]
    failed.refresh_from_db()
    # retry enqueued the job; the sync test queue ran the real pipeline after commit.
    assert (failed.status, failed.error_code) == (TranscriptionStatus.COMPLETED, "")
    assert LogEntry.objects.filter(object_id=str(failed.pk)).count() == 1
    entry = AuditLog.objects.get(action="retried")
    assert (entry.object_id, entry.actor.username, entry.meta) == (
        str(failed.pk),
        "admin",
        {"via": "admin"},
    )


def test_cancel_action(admin_client, user, tone_wav) -> None:
    pending = make(user, tone_wav, title="Waiting")
    completed = make(user, tone_wav, title="Done", run=True)

    response = post_action(admin_client, "cancel_transcriptions", pending, completed)

    assert messages_of(response) == [
        ("warning", "“Done”: A completed transcription cannot become cancelled."),
        ("success", "Cancelled 1 transcription(s): “Waiting”."),
    ]
    pending.refresh_from_db()
    completed.refresh_from_db()
    assert (pending.status, completed.status) == (
        TranscriptionStatus.CANCELLED,
        TranscriptionStatus.COMPLETED,
    )


def test_success_message_lists_at_most_ten_names(admin_client, user, tone_wav) -> None:
    pending = [make(user, tone_wav, title=f"Job {i:02d}") for i in range(12)]
    response = post_action(admin_client, "cancel_transcriptions", *pending)
    [(level, text)] = messages_of(response)
    assert level == "success"
    assert text.startswith("Cancelled 12 transcription(s): “Job ")
    assert text.endswith(" and 2 more.")


def test_delete_removes_row_and_audio_after_commit(
    admin_client, user, tone_wav, media_root, django_capture_on_commit_callbacks
) -> None:
    transcription = make(user, tone_wav)
    assert len(stored_files(media_root)) == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse(DELETE, args=[transcription.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Transcription.objects.exists()
    assert stored_files(media_root) == []
    assert AuditLog.objects.get(action="deleted").object_id == str(transcription.pk)


def test_bulk_delete_removes_every_audio_file(
    admin_client, user, other_user, tone_wav, media_root, django_capture_on_commit_callbacks
) -> None:
    doomed = [make(user, tone_wav), make(other_user, tone_wav)]
    kept = make(user, tone_wav)
    assert len(stored_files(media_root)) == 3

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse(CHANGELIST),
            {
                "action": "delete_selected",
                "post": "yes",
                helpers.ACTION_CHECKBOX_NAME: [str(t.pk) for t in doomed],
            },
        )

    assert response.status_code == 302
    assert list(Transcription.objects.values_list("pk", flat=True)) == [kept.pk]
    assert [p.name for p in stored_files(media_root)] == [Path(kept.audio.name).name]
