"""Error codes of the analysis app (see `transcription_platform.error_codes`).

The API's own codes, then those of the analyzers (an analysis fails with one of them).
"""

from __future__ import annotations

from enum import StrEnum


class AnalysisErrorCode(StrEnum):
    ANALYSIS_IN_PROGRESS = "analysis_in_progress"
    ANALYSIS_NOT_FOUND = "analysis_not_found"
    UNKNOWN_ANALYZER = "unknown_analyzer"
    # The analyzers.
    ANALYSIS_ERROR = "analysis_error"
    ANALYSIS_FAILED = "analysis_failed"
    ANALYSIS_UNAVAILABLE = "analysis_unavailable"
    ANALYSIS_QUOTA_EXCEEDED = "analysis_quota_exceeded"
    ANALYSIS_AUTH_FAILED = "analysis_auth_failed"
    ANALYSIS_REJECTED = "analysis_rejected"
    ANALYSIS_CONTEXT_TOO_LONG = "analysis_context_too_long"
    ANALYSIS_REFUSED = "analysis_refused"
    ANALYSIS_INVALID_OUTPUT = "analysis_invalid_output"
    INVALID_TRANSCRIPT = "invalid_transcript"
