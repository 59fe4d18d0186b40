"""Admin for support staff: find a user's transcriptions, read them, retry or cancel.

Nothing here changes a status by assignment: actions and deletion go through
`transcription_platform.transcriptions.services`, like the API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from transcription_platform.admin import ReadOnlyAdminMixin
from transcription_platform.audit.services import log_action
from transcription_platform.generics import ModelAdmin, ModelForm, TabularInline
from transcription_platform.hooks import imported_by_apps
from transcription_platform.transcriptions import services
from transcription_platform.transcriptions.models import Transcription, TranscriptionChunk

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

#: How many object names a success message lists before "and N more".
NAMES_IN_MESSAGE = 10


def _clock(seconds: float | None) -> str:
    """``1:02:03.450`` (hours only when needed) — how support staff quote a moment."""
    millis = max(0, round((seconds or 0.0) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    prefix = f"{hours}:{minutes:02d}" if hours else f"{minutes}"
    return f"{prefix}:{secs:02d}.{millis:03d}"


def _field_names(fieldsets: _FieldsetSpec) -> Iterator[str]:
    """Every field a fieldset shows, a group on one line (a tuple of names) flattened."""
    for _, options in fieldsets:
        for entry in options["fields"]:
            if isinstance(entry, str):
                yield entry
            else:
                yield from entry


def _audit(action: str, request: HttpRequest, pk: Any) -> None:
    # A no-op when the (optional) audit app is not installed.
    log_action(
        action,
        request=request,
        object_type=Transcription._meta.label_lower,
        object_id=pk,
        meta={"via": "admin"},
    )


class TranscriptionChunkInline(
    ReadOnlyAdminMixin, TabularInline[TranscriptionChunk, Transcription]
):
    """The job's chunks, read-only: where a stuck or failed job stopped."""

    model = TranscriptionChunk
    fields = ("index", "start_clock", "end_clock", "status", "attempts", "claimed_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    @admin.display(description="Start")
    def start_clock(self, chunk: TranscriptionChunk) -> str:
        return _clock(chunk.start)

    @admin.display(description="End")
    def end_clock(self, chunk: TranscriptionChunk) -> str:
        return _clock(chunk.end)

    def get_queryset(self, request: HttpRequest) -> QuerySet[TranscriptionChunk]:
        # The stored results can be large; the table never shows them.
        return super().get_queryset(request).defer("result")


@admin.register(Transcription)
class TranscriptionAdmin(ModelAdmin[Transcription]):
    list_display = (
        "name",
        "owner",
        "status",
        "progress_percent",
        "engine",
        "duration_clock",
        "created_at",
    )
    list_filter = ("status", "engine", "language", "created_at")
    date_hierarchy = "created_at"
    list_select_related = ("owner",)
    ordering = ("-created_at",)
    actions = ("retry_transcriptions", "cancel_transcriptions")
    inlines = (TranscriptionChunkInline,)
    fieldsets = (
        (None, {"fields": ("id", "owner", "title", "status", "progress_percent", "error")}),
        ("Transcript", {"fields": ("transcript", "segments_table")}),
        (
            "Audio",
            {"fields": ("original_filename", "stored_audio", "content_type", "audio_details")},
        ),
        (
            "Job",
            {
                "fields": (
                    "engine",
                    "model",
                    "language",
                    "detected_language",
                    "prompt",
                    "analyze",
                    "attempts",
                    "usage_details",
                    "created_at",
                    "started_at",
                    "completed_at",
                    "updated_at",
                )
            },
        ),
    )
    # Only the title is editable; every job and result field is read-only.
    readonly_fields = tuple(name for name in _field_names(fieldsets) if name != "title")

    def get_inlines(self, request: HttpRequest, obj: Transcription | None) -> list[Any]:
        """Our inlines, then those installed apps add (the analysis app's, for one)."""
        return [
            *super().get_inlines(request, obj),
            *imported_by_apps("transcription_admin_inlines"),
        ]

    # ----------------------------------------------------------------- changelist

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        user_model = get_user_model()
        owner_fields = {user_model.USERNAME_FIELD, user_model.get_email_field_name()}
        return ["title", "original_filename", *sorted(f"owner__{f}" for f in owner_fields)]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Transcription], search_term: str
    ) -> tuple[QuerySet[Transcription], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # A pasted id (from a support ticket or the API) finds its row. Matched as a UUID,
        # not as text: SQLite stores it without dashes, PostgreSQL as a native uuid.
        try:
            pk = uuid.UUID(search_term.strip())
        except ValueError:
            return results, may_have_duplicates
        return results | queryset.filter(pk=pk), may_have_duplicates

    def get_queryset(self, request: HttpRequest) -> QuerySet[Transcription]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name and match.url_name.endswith("_changelist"):
            # Transcripts can be megabytes each: the list never needs them.
            queryset = queryset.defer("text", "segments", "audio_info", "usage", "prompt")
        return queryset

    @admin.display(description="Title", ordering="title")
    def name(self, obj: Transcription) -> str:
        return str(obj)

    @admin.display(description="Progress", ordering="progress")
    def progress_percent(self, obj: Transcription) -> SafeString:
        # Updated within each chunk as the engine works, so a reload shows it move.
        return format_html(
            '<progress value="{}" max="100" style="width: 6em"></progress> {}%',
            obj.progress,
            obj.progress,
        )

    @admin.display(description="Duration", ordering="duration")
    def duration_clock(self, obj: Transcription) -> str:
        return "—" if obj.duration is None else _clock(obj.duration)

    # ----------------------------------------------------------------- change view

    @admin.display(description="Error")
    def error(self, obj: Transcription) -> str:
        return f"{obj.error_code}: {obj.error_message}" if obj.error_code else "—"

    @admin.display(description="Text")
    def transcript(self, obj: Transcription) -> SafeString | str:
        if not obj.text:
            return "—"
        return format_html('<div style="white-space: pre-wrap; max-width: 60em">{}</div>', obj.text)

    @admin.display(description="Segments")
    def segments_table(self, obj: Transcription) -> SafeString | str:
        if not obj.segments:
            return "—"
        rows = format_html_join(
            "\n",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    index,
                    _clock(segment.get("start")),
                    _clock(segment.get("end")),
                    segment.get("text", ""),
                )
                for index, segment in enumerate(obj.segments, start=1)
            ),
        )
        return format_html(
            "<table><thead><tr><th>#</th><th>Start</th><th>End</th><th>Text</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Stored audio")
    def stored_audio(self, obj: Transcription) -> str:
        return f"{obj.audio.name} ({obj.size_bytes} bytes)"

    @admin.display(description="Audio")
    def audio_details(self, obj: Transcription) -> SafeString:
        return _json_block(obj.audio_info)

    @admin.display(description="Usage")
    def usage_details(self, obj: Transcription) -> SafeString:
        return _json_block(obj.usage)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Uploads come through the API or the transcribe command, which validate the audio.
        return False

    def save_model(
        self, request: HttpRequest, obj: Transcription, form: ModelForm[Transcription], change: bool
    ) -> None:
        # A full save would write back the status, progress and transcript this form read
        # earlier, over what a worker saved meanwhile: save only the editable title.
        obj.save(update_fields=["title", "updated_at"])

    # ----------------------------------------------------------------- actions

    @admin.action(description="Retry the selected failed transcriptions", permissions=("change",))
    def retry_transcriptions(self, request: HttpRequest, queryset: QuerySet[Transcription]) -> None:
        self._apply(request, queryset, services.retry, "Retried", audit_action="retried")

    @admin.action(description="Cancel the selected transcriptions", permissions=("change",))
    def cancel_transcriptions(
        self, request: HttpRequest, queryset: QuerySet[Transcription]
    ) -> None:
        self._apply(request, queryset, services.cancel, "Cancelled", audit_action="cancelled")

    def _apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[Transcription],
        change: Callable[[Transcription], Transcription],
        verb: str,
        audit_action: str | None = None,
    ) -> None:
        """Run a lifecycle service on each object; one message per refusal, one for the rest."""
        done: list[str] = []
        for transcription in queryset.select_related(None).only("pk", "title", "original_filename"):
            try:
                change(transcription)
            except services.IllegalTransition as exc:
                self.message_user(request, f"“{transcription}”: {exc.message}", messages.WARNING)
                continue
            self.log_change(request, transcription, f"{verb} from the admin.")
            if audit_action:
                _audit(audit_action, request, transcription.pk)
            done.append(str(transcription))
        if done:
            names = ", ".join(f"“{name}”" for name in done[:NAMES_IN_MESSAGE])
            if len(done) > NAMES_IN_MESSAGE:
                names += f" and {len(done) - NAMES_IN_MESSAGE} more"
            self.message_user(
                request, f"{verb} {len(done)} transcription(s): {names}.", messages.SUCCESS
            )

    # ----------------------------------------------------------------- deletion

    def delete_model(self, request: HttpRequest, obj: Transcription) -> None:
        pk = obj.pk  # delete() clears it
        services.delete_transcription(obj)
        _audit("deleted", request, pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Transcription]) -> None:
        # One transaction: the audio files go only once every row is gone for good.
        with transaction.atomic():
            for transcription in queryset.defer("text", "segments"):
                pk = transcription.pk
                services.delete_transcription(transcription)
                _audit("deleted", request, pk)


def _json_block(value: Any) -> SafeString:
    return format_html("<pre>{}</pre>", json.dumps(value or {}, indent=2, ensure_ascii=False))
