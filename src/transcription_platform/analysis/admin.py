"""Read-only admin of analyses, also shown inline on each transcription's page (the
transcriptions admin picks `AnalysisInline` up from ``AnalysisConfig``).

Analyses change only through `transcription_platform.analysis.services` (the API's
POST …/analysis re-runs one); the admin is for looking.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from transcription_platform.admin import ReadOnlyAdminMixin
from transcription_platform.analysis.models import Analysis
from transcription_platform.generics import ModelAdmin, StackedInline
from transcription_platform.transcriptions import services as transcriptions


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


class AnalysisDisplay:
    """Renderings shared by the admin and the inline."""

    @admin.display(description="Error")
    def error(self, obj: Analysis) -> str:
        return f"{obj.error_code}: {obj.error_message}" if obj.error_code else "—"

    @admin.display(description="Usage (tokens in / out)")
    def tokens(self, obj: Analysis) -> str:
        return f"{obj.input_tokens} / {obj.output_tokens}"

    @admin.display(description="Summary")
    def summary_text(self, obj: Analysis) -> SafeString | str:
        if not obj.summary:
            return "—"
        return format_html(
            '<div style="white-space: pre-wrap; max-width: 60em">{}</div>', obj.summary
        )

    @admin.display(description="Topics")
    def topics_list(self, obj: Analysis) -> SafeString | str:
        if not obj.topics:
            return "—"
        return format_html_join(
            ", ", "{} ({:.2f})", ((t.get("label", ""), t.get("relevance", 0)) for t in obj.topics)
        )

    @admin.display(description="Action items")
    def action_items_table(self, obj: Analysis) -> SafeString | str:
        if not obj.action_items:
            return "—"
        rows = format_html_join(
            "\n",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    _clock(item.get("start")),
                    item.get("text", ""),
                    item.get("owner") or "—",
                    item.get("due") or "—",
                )
                for item in obj.action_items
            ),
        )
        return format_html(
            "<table><thead><tr><th>At</th><th>Item</th><th>Owner</th><th>Due</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )


DETAIL_FIELDS = (
    "status",
    "analyzer",
    "model",
    "summary_text",
    "topics_list",
    "action_items_table",
    "tokens",
    "error",
    "attempts",
    "requested_at",
    "started_at",
    "completed_at",
)


@admin.register(Analysis)
class AnalysisAdmin(AnalysisDisplay, ReadOnlyAdminMixin, ModelAdmin[Analysis]):
    list_display = ("transcription", "status", "analyzer", "model", "tokens", "requested_at")
    list_filter = ("status", "analyzer", "requested_at")
    list_select_related = ("transcription",)
    search_fields = ("transcription__title", "transcription__original_filename")
    fields = ("transcription", *DETAIL_FIELDS)
    readonly_fields = fields


class AnalysisInline(
    AnalysisDisplay, ReadOnlyAdminMixin, StackedInline[Analysis, transcriptions.Transcription]
):
    model = Analysis
    fields = DETAIL_FIELDS
    readonly_fields = DETAIL_FIELDS
    extra = 0
    can_delete = False
