"""``manage.py transcribe FILE``: run the real pipeline on one file, here, and print it.

The file is validated exactly like an upload (size, audio probe, duration, engine,
language), stored and recorded as a transcription of ``--user``, then transcribed in
this process — no worker needed — with a progress bar and an estimate of the time
left on stderr::

    python manage.py transcribe meeting.m4a --language en --user alice
    python manage.py transcribe meeting.m4a --format srt --output meeting.srt

A bad file or option exits 1 with the API's error code and message and leaves
nothing behind; a failed job exits 1 with its error code and message (the failed
transcription stays, retryable from the admin). Ctrl-C cancels the transcription.
"""

from __future__ import annotations

import mimetypes
import time
from contextlib import suppress
from pathlib import Path
from typing import Any, get_args

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db.models import Q

from transcription_platform.audit.services import log_action
from transcription_platform.exceptions import TranscriptionPlatformError
from transcription_platform.hooks import imported_by_apps
from transcription_platform.transcriptions import exports, services, tasks
from transcription_platform.transcriptions.models import Transcription, TranscriptionStatus

#: The exit status of a program stopped by Ctrl-C (128 + SIGINT).
INTERRUPTED_EXIT_STATUS = 130


class ProgressBar:
    """The job's progress on stderr: share of the audio transcribed, chunks, elapsed
    time and an estimate of the time left.

    Redrawn in place on a terminal (at most every ``REDRAW_SECONDS``, and at each
    chunk); otherwise one line per chunk and per ``PRINT_STEP`` percent, so logs and CI
    output stay readable. The estimate extrapolates the pace since planning ended.
    """

    WIDTH = 30
    REDRAW_SECONDS = 0.1
    PRINT_STEP = 10

    def __init__(self, stream: OutputWrapper) -> None:
        self.stream = stream
        self.in_place = stream.isatty()
        self.started = time.monotonic()
        self.transcribing_since: float | None = None
        self.drawn = False
        self.last_chunks: int | None = None
        self.last_percent = -1
        self.last_drawn_at = 0.0

    def __call__(self, progress: tasks.JobProgress) -> None:
        now = time.monotonic()
        if self.transcribing_since is None:
            self.transcribing_since = now  # the first report comes once chunks are planned
        percent = int(100 * progress.fraction)
        if progress.chunks_done < progress.chunks_total:
            percent = min(percent, 99)  # 100% means the transcript is in
        new_chunk = progress.chunks_done != self.last_chunks
        if self.in_place:
            due = now - self.last_drawn_at >= self.REDRAW_SECONDS
        else:
            due = percent - self.last_percent >= self.PRINT_STEP
        if not (new_chunk or due) or percent < self.last_percent:
            return
        self.last_chunks, self.last_percent, self.last_drawn_at = (
            progress.chunks_done,
            percent,
            now,
        )
        self.draw(progress, percent, now)

    def draw(self, progress: tasks.JobProgress, percent: int, now: float) -> None:
        filled = self.WIDTH * percent // 100
        line = (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {percent:3d}%  "
            f"{progress.chunks_done}/{progress.chunks_total} chunks  "
            f"{now - self.started:.1f} s  ETA {self.eta(progress, now)}"
        )
        if self.in_place:
            self.stream.write(f"\r{line}", ending="")
            self.stream.flush()
        else:
            self.stream.write(line)
        self.drawn = True

    def eta(self, progress: tasks.JobProgress, now: float) -> str:
        """Seconds left at the pace so far ("--" until there is a pace to go by)."""
        fraction = progress.fraction
        if progress.chunks_done == progress.chunks_total:
            return "0 s"
        spent = now - (self.transcribing_since or now)
        if fraction <= 0.0 or spent <= 0.0:
            return "--"
        return f"{spent * (1.0 - fraction) / fraction:.0f} s"

    def close(self) -> None:
        if self.in_place and self.drawn:
            self.stream.write("")


def resolve_owner(identifier: str | None) -> Any:
    """The active user named by username or email; without one, the only superuser."""
    user_model = get_user_model()
    users = user_model._default_manager
    if not identifier:
        superusers = list(users.filter(is_superuser=True, is_active=True)[:2])
        if len(superusers) != 1:
            found = "no active superuser" if not superusers else "several superusers"
            raise CommandError(
                f"--user is required ({found} to default to): give a username or email."
            )
        return superusers[0]
    by_name = users.filter(**{user_model.USERNAME_FIELD: identifier}).first()
    if by_name is not None:
        matches = [by_name]
    else:
        email_field = user_model.get_email_field_name()
        matches = list(users.filter(Q(**{f"{email_field}__iexact": identifier}))[:2])
    if not matches:
        raise CommandError(f"No user with username or email {identifier!r}.")
    if len(matches) > 1:
        raise CommandError(f"Several users have the email {identifier!r}: give a username.")
    if not matches[0].is_active:
        raise CommandError(f"User {identifier!r} is inactive.")
    return matches[0]


class Command(BaseCommand):
    help = (
        "Transcribe an audio file with the real pipeline in this process, showing "
        "progress on stderr; print the transcript or write an export to --output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path of the audio file.")
        parser.add_argument(
            "--engine", default="", help="Engine name from ENGINES (default: DEFAULT_ENGINE)."
        )
        parser.add_argument("--language", default="", help="ISO-639 code such as en or pt-br.")
        parser.add_argument("--prompt", default="", help="Vocabulary or context for the engine.")
        parser.add_argument(
            "--user",
            help="Owner's username or email (default: the only superuser, if there is one).",
        )
        parser.add_argument(
            "--format",
            choices=get_args(exports.ExportFormat),
            default="txt",
            help="Transcript format (default: txt).",
        )
        parser.add_argument("--output", "-o", help="Write the export to this file, not stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        output = Path(options["output"]) if options["output"] else None
        if not path.is_file():
            raise CommandError(f"file_not_found: {path} is not a file.")
        if output is not None and not output.parent.is_dir():
            raise CommandError(f"output_dir_missing: {output.parent} is not a directory.")
        owner = resolve_owner(options["user"])

        transcription = self._create(path, owner, options)
        if options["verbosity"] >= 1:
            self.stderr.write(f"Transcription {transcription.pk}: {path.name}")
        self._run(transcription, show_progress=options["verbosity"] >= 1)

        transcription.refresh_from_db()
        if transcription.status != TranscriptionStatus.COMPLETED:
            code = transcription.error_code or transcription.status
            message = transcription.error_message or f"The transcription is {transcription.status}."
            raise CommandError(f"{code}: {message}")
        self._analyse(transcription)
        export = exports.render(transcription, options["format"])
        if output is None:
            self.stdout.write(export.content.decode("utf-8"), ending="")
            return
        try:
            output.write_bytes(export.content)
        except OSError as exc:
            raise CommandError(f"output_not_writable: {output}: {exc.strerror}.") from exc
        if options["verbosity"] >= 1:
            self.stderr.write(f"Wrote {output}")

    def _create(self, path: Path, owner: Any, options: dict[str, Any]) -> Transcription:
        """Validate like the upload API, then store the audio and create the row — with
        no queued job: this process runs it."""
        try:
            transcription, _ = services.create_from_file(
                owner,
                services.AudioFile(
                    path=path,
                    name=path.name,
                    size_bytes=path.stat().st_size,
                    content_type=mimetypes.guess_type(path.name)[0] or "",
                ),
                engine=options["engine"],
                language=options["language"],
                prompt=options["prompt"],
                enqueue=False,
            )
        except TranscriptionPlatformError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        return transcription

    def _analyse(self, transcription: Transcription) -> None:
        """Run here the steps installed apps queue after a transcript (the analysis app's
        analysis, claimed once: a worker that later receives the queued task finds it
        done)."""
        for step in imported_by_apps("local_transcription_steps"):
            step(transcription.pk)

    def _run(self, transcription: Transcription, *, show_progress: bool) -> None:
        bar = ProgressBar(self.stderr) if show_progress else None
        try:
            tasks.process_transcription(str(transcription.pk), in_process=True, on_progress=bar)
        except KeyboardInterrupt:
            # Left processing, a worker would pick the job up again after
            # STUCK_AFTER_SECONDS: the user asked for it to stop.
            with suppress(services.IllegalTransition):
                services.cancel(transcription)
                log_action(
                    "cancelled", actor=transcription.owner, obj=transcription, meta={"via": "cli"}
                )
            raise CommandError(
                f"interrupted: transcription {transcription.pk} was cancelled.",
                returncode=INTERRUPTED_EXIT_STATUS,
            ) from None
        finally:
            if bar is not None:
                bar.close()
