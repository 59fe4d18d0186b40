"""Error codes of the analysis app (see `transcription_platform.error_codes`).

Analyzer codes (``analysis_failed``, ``analysis_auth_failed``…) belong to the analyzers.
"""

from __future__ import annotations

from enum import StrEnum


class AnalysisErrorCode(StrEnum):
    ANALYSIS_IN_PROGRESS = "analysis_in_progress"
    ANALYSIS_NOT_FOUND = "analysis_not_found"
    UNKNOWN_ANALYZER = "unknown_analyzer"
