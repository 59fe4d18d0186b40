"""``manage.py transcribe``: the real pipeline in-process, exports, errors, --user."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import srt
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django_q.models import OrmQ, Task

from tests.fixtures.api import assert_error
from tests.fixtures.bad_audio import CASES as BAD_AUDIO_CASES
from tests.fixtures.storage import stored_files
from tests.fixtures.uploads import upload
from transcription_platform.audit.models import AuditLog
from transcription_platform.engines import get_engine
from transcription_platform.engines.fake import VOCABULARY
from transcription_platform.transcriptions.management.commands.transcribe import (
    Command as TranscribeCommand,
)
from transcription_platform.transcriptions.models import Transcription, TranscriptionStatus

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]

PROGRESS_LINE = re.compile(r"\[[#.]{30}\] +(\d+)%  (\d+)/(\d+) chunks  \d+\.\d s  ETA (--|\d+ s)")


def transcribe(*args: str, stdout=None, stderr=None, **options) -> tuple[str, str]:
    out, err = stdout or io.StringIO(), stderr or io.StringIO()
    call_command("transcribe", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def engine_options(settings):
    """Set the default FakeEngine's OPTIONS (and any other platform setting)."""

    def configure(options: dict | None = None, **platform) -> None:
        settings.TRANSCRIPTION_PLATFORM = {
            **settings.TRANSCRIPTION_PLATFORM,
            "ENGINES": {
                "default": {
                    "BACKEND": "transcription_platform.engines.fake.FakeEngine",
                    "OPTIONS": options or {},
                }
            },
            **platform,
        }

    return configure


def test_transcribes_in_process_with_progress_and_prints_the_transcript(
    user, tone_wav, media_root, engine_options, django_capture_on_commit_callbacks
) -> None:
    # A parallel engine would fan out to chunk tasks on a worker; here it must not.
    engine_options({"parallel_chunks": True}, CHUNK_SECONDS=2)

    # Run what would run after commit too: a job enqueued by mistake would run again.
    with django_capture_on_commit_callbacks(execute=True):
        out, err = transcribe(str(tone_wav), user="alice")

    transcription = Transcription.objects.get()
    assert transcription.status == TranscriptionStatus.COMPLETED
    assert (transcription.owner, transcription.original_filename) == (user, "tone.wav")
    assert transcription.content_type == "audio/x-wav"
    assert out == transcription.text + "\n"
    words = out.split()
    assert len(words) >= 8  # one word per sounding half second of 5 s of tone
    assert set(words) <= set(VOCABULARY)
    assert len(stored_files(media_root)) == 1

    # Every chunk ran here exactly once; nothing went through the task queue.
    chunks = transcription.chunks.count()
    assert chunks >= 3
    assert len(get_engine().calls) == chunks
    assert transcription.attempts == 1
    assert not OrmQ.objects.exists()
    assert not Task.objects.exists()

    # The bar advanced through every chunk (0/N after planning ... N/N), its percent
    # never going back, and ended at 100% with nothing left to wait for.
    steps = [PROGRESS_LINE.fullmatch(line) for line in err.splitlines()[1:]]
    assert all(steps), err
    assert sorted({int(m[2]) for m in steps}) == list(range(chunks + 1))
    assert {int(m[3]) for m in steps} == {chunks}
    percents = [int(m[1]) for m in steps]
    assert percents == sorted(percents)
    assert (steps[0][4], steps[-1][1], steps[-1][4]) == ("--", "100", "0 s")
    assert err.splitlines()[0] == f"Transcription {transcription.pk}: tone.wav"


def test_progress_is_redrawn_in_place_on_a_terminal(user, tone_wav, engine_options) -> None:
    engine_options(CHUNK_SECONDS=2)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    _, err = transcribe(str(tone_wav), user="alice", stderr=Terminal())

    bar = err.split("\n")[1]  # not splitlines(): it splits on "\r" too
    frames = bar.split("\r")[1:]
    # At least one frame per chunk boundary (more when a chunk takes a while).
    assert len(frames) >= Transcription.objects.get().chunks.count() + 1
    assert all(PROGRESS_LINE.fullmatch(frame) for frame in frames)
    chunks = Transcription.objects.get().chunks.count()
    last = PROGRESS_LINE.fullmatch(frames[-1].rstrip("\n"))
    assert (last[1], last[2], last[3], last[4]) == ("100", str(chunks), str(chunks), "0 s")
    assert err.endswith(" ETA 0 s\n")  # the finished bar is left on its own line


def test_quiet_run_prints_only_the_transcript(user, tone_wav) -> None:
    out, err = transcribe(str(tone_wav), user="alice", verbosity=0)
    assert err == ""
    assert out == Transcription.objects.get().text + "\n"


def test_srt_export_to_output_file(user, tone_wav, tmp_path) -> None:
    target = tmp_path / "out" / "tone.srt"
    target.parent.mkdir()

    out, err = transcribe(str(tone_wav), "--format", "srt", "--output", str(target), user="alice")

    assert out == ""
    assert err.splitlines()[-1] == f"Wrote {target}"
    transcription = Transcription.objects.get()
    subtitles = list(srt.parse(target.read_text(encoding="utf-8")))
    assert len(subtitles) == len(transcription.segments) >= 1
    assert " ".join(s.content for s in subtitles) == transcription.text
    for subtitle, segment in zip(subtitles, transcription.segments, strict=True):
        assert subtitle.start.total_seconds() == pytest.approx(segment["start"], abs=0.001)
        assert subtitle.end.total_seconds() <= transcription.duration


def test_json_export_to_stdout(user, tone_wav) -> None:
    out, _ = transcribe(str(tone_wav), "--format", "json", "--language", "EN", user="alice")
    data = json.loads(out)
    transcription = Transcription.objects.get()
    assert data["id"] == str(transcription.pk)
    assert (data["language"], data["text"]) == ("en", transcription.text)


def test_failed_job_exits_with_its_error(user, tone_wav, engine_options) -> None:
    engine_options({"failures": ["permanent"]})

    with pytest.raises(CommandError, match=r"^engine_rejected: Injected permanent failure\.$"):
        transcribe(str(tone_wav), user="alice")

    transcription = Transcription.objects.get()
    assert (transcription.status, transcription.error_code) == (
        TranscriptionStatus.FAILED,
        "engine_rejected",
    )


def test_ctrl_c_cancels_the_transcription(user, tone_wav, engine_options) -> None:
    engine_options(CHUNK_SECONDS=2)

    class InterruptedAfterFirstChunk(io.StringIO):
        def write(self, text: str) -> int:
            if " 1/" in text:
                raise KeyboardInterrupt
            return super().write(text)

    with pytest.raises(
        CommandError, match=r"^interrupted: transcription .+ was cancelled\.$"
    ) as exc:
        transcribe(str(tone_wav), user="alice", stderr=InterruptedAfterFirstChunk())

    assert exc.value.returncode == 130
    transcription = Transcription.objects.get()
    assert transcription.status == TranscriptionStatus.CANCELLED
    assert transcription.chunks.filter(status="done").count() == 1
    [entry] = AuditLog.objects.filter(action="cancelled")
    assert (entry.actor, entry.object_id, entry.meta) == (
        user,
        str(transcription.pk),
        {"via": "cli"},
    )


# --------------------------------------------------------------------------- bad input


def test_bad_audio_fails_like_the_api_and_leaves_nothing(
    user, auth_client, tmp_path, media_root
) -> None:
    junk = tmp_path / "notes.wav"
    junk.write_bytes(b"just some text, definitely not audio\n" * 20)
    api_error = assert_error(upload(auth_client, junk), 415, "not_audio")

    with pytest.raises(CommandError) as exc:
        transcribe(str(junk), user="alice")

    assert str(exc.value) == f"not_audio: {api_error['message']}"
    assert not Transcription.objects.exists()
    assert stored_files(media_root) == []


def test_too_long_fails_like_the_api(user, auth_client, tone_wav, media_root, engine_options):
    engine_options(MAX_DURATION_SECONDS=2)
    api_error = assert_error(upload(auth_client, tone_wav), 400, "audio_too_long")

    with pytest.raises(CommandError) as exc:
        transcribe(str(tone_wav), user="alice")

    assert str(exc.value) == f"audio_too_long: {api_error['message']}"
    assert not Transcription.objects.exists()
    assert stored_files(media_root) == []


@pytest.mark.parametrize(
    ("arguments", "platform", "expected"),
    [
        ([], {"MAX_UPLOAD_BYTES": 1000}, "payload_too_large: The file is larger than the 1000 "),
        (["--engine", "nope"], {}, "unknown_engine: Unknown engine 'nope'."),
        (["--language", "english!"], {}, "invalid_language: Language must be an ISO-639 code"),
        (["--prompt", "x" * 4001], {}, "validation_error: Prompt is longer than 4000 characters"),
    ],
)
def test_invalid_options_are_refused_before_anything_is_stored(
    user, tone_wav, media_root, engine_options, arguments, platform, expected
) -> None:
    engine_options(**platform)
    with pytest.raises(CommandError) as exc:
        transcribe(str(tone_wav), *arguments, user="alice")
    assert str(exc.value).startswith(expected)
    assert not Transcription.objects.exists()
    assert stored_files(media_root) == []


def test_unsupported_language_is_refused(user, tone_wav, engine_options) -> None:
    engine_options({"languages": ["en", "fr"]})
    with pytest.raises(CommandError, match=r"^unsupported_language: The 'default' engine"):
        transcribe(str(tone_wav), "--language", "de", user="alice")


def test_missing_file_and_output_directory(user, tone_wav, tmp_path) -> None:
    with pytest.raises(CommandError, match=r"^file_not_found: .*nope\.wav is not a file\.$"):
        transcribe(str(tmp_path / "nope.wav"), user="alice")
    with pytest.raises(CommandError, match=r"^file_not_found: "):
        transcribe(str(tmp_path), user="alice")
    with pytest.raises(CommandError, match=r"^output_dir_missing: "):
        transcribe(str(tone_wav), "--output", str(tmp_path / "no" / "out.txt"), user="alice")
    assert not Transcription.objects.exists()


def test_unknown_format_is_a_usage_error(user, tone_wav) -> None:
    with pytest.raises(CommandError, match="invalid choice: 'docx'"):
        transcribe(str(tone_wav), "--format", "docx", user="alice")


# --------------------------------------------------------------------------- --user


def test_user_by_email_case_insensitive(user, other_user, tone_wav) -> None:
    transcribe(str(tone_wav), user="BOB@example.com")
    assert Transcription.objects.get().owner == other_user


def test_without_user_the_only_superuser_owns_it(user, tone_wav) -> None:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-12345678")
    transcribe(str(tone_wav))
    assert Transcription.objects.get().owner == admin


@pytest.mark.parametrize(
    ("superusers", "message"),
    [(0, "no active superuser"), (2, "several superusers")],
)
def test_without_user_it_must_be_unambiguous(user, tone_wav, superusers, message) -> None:
    for i in range(superusers):
        get_user_model().objects.create_superuser(f"root{i}", f"r{i}@example.com", "pw-1234567")
    with pytest.raises(CommandError, match=rf"^--user is required \({message} to default to\)"):
        transcribe(str(tone_wav))
    assert not Transcription.objects.exists()


def test_user_errors(user, tone_wav, password) -> None:
    with pytest.raises(CommandError, match=r"^No user with username or email 'zed'\.$"):
        transcribe(str(tone_wav), user="zed")

    get_user_model().objects.create_user("alice2", email="ALICE@example.com", password=password)
    with pytest.raises(CommandError, match=r"^Several users have the email 'alice@example.com'"):
        transcribe(str(tone_wav), user="alice@example.com")
    transcribe(str(tone_wav), user="alice2")  # a username is never ambiguous

    user.is_active = False
    user.save()
    with pytest.raises(CommandError, match=r"^User 'alice' is inactive\.$"):
        transcribe(str(tone_wav), user="alice")
    assert Transcription.objects.get().owner.username == "alice2"


def test_help_lists_every_option() -> None:
    parser = TranscribeCommand().create_parser("manage.py", "transcribe")
    help_text = parser.format_help()
    for option in ("--engine", "--language", "--prompt", "--user", "--format", "--output"):
        assert option in help_text


@pytest.mark.django_db(transaction=True)
def test_analysis_runs_in_process_and_lands_in_the_json_export(tmp_path, user, monkeypatch):
    """Autocommit, as in a real shell, and a real (non-sync) queue: the analysis task is
    queued for workers, yet the command runs it here and exports it."""
    from django.test import override_settings
    from django_q.conf import Conf

    from tests.fixtures.audio import write_audio

    monkeypatch.setattr(Conf, "SYNC", False)
    audio = write_audio(tmp_path / "talk.wav", [(2.0, 440)])
    out = tmp_path / "out.json"
    with override_settings(
        TRANSCRIPTION_PLATFORM={
            "ENGINES": {
                "default": {
                    "BACKEND": "transcription_platform.engines.fake.FakeEngine",
                    "OPTIONS": {"text": "Alice will send the report by Friday."},
                }
            },
            "ANALYSIS_ENABLED": True,
        }
    ):
        call_command(
            "transcribe",
            str(audio),
            "--user",
            user.username,
            "--format",
            "json",
            "--output",
            str(out),
            verbosity=0,
        )
    data = json.loads(out.read_text())
    assert data["analysis"]["status"] == "completed"
    assert [item["owner"] for item in data["analysis"]["action_items"]] == ["Alice"]
    assert OrmQ.objects.count() == 1  # the queued copy: a worker will find it done


# --------------------------------------------------------------------------- documented codes


def documented_cli_codes() -> set[str]:
    """The codes named in the exit-status table of docs/cli-and-admin.md."""
    page = (ROOT / "docs" / "cli-and-admin.md").read_text(encoding="utf-8")
    section = page.split("### Exit status and errors", 1)[1].split("\n### ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    return set(re.findall(r"`([a-z][a-z0-9_]+)`", table))


def test_every_cli_error_code_is_documented() -> None:
    """Every code the command can print: its own, the shared upload validation's and the
    audio probe's (the same the API answers with)."""
    from transcription_platform import validators
    from transcription_platform.engines.errors import INVALID_AUDIO_STATUS
    from transcription_platform.exceptions import PayloadTooLarge, ValidationError
    from transcription_platform.transcriptions import validation
    from transcription_platform.transcriptions.management.commands import (
        transcribe as command_module,
    )

    own = re.findall(r'CommandError\(\s*f?"([a-z_]+): ', Path(command_module.__file__).read_text())
    from transcription_platform import error_codes as platform_codes
    from transcription_platform.transcriptions import error_codes as transcription_codes

    enums = {
        "PlatformErrorCode": platform_codes.PlatformErrorCode,
        "TranscriptionErrorCode": transcription_codes.TranscriptionErrorCode,
    }
    shared = {
        enums[enum][member].value
        for path in (validation.__file__, validators.__file__)
        for enum, member in re.findall(r"(\w+ErrorCode)\.([A-Z_]+)", Path(path).read_text())
    }
    codes = {*own, *shared, *INVALID_AUDIO_STATUS, PayloadTooLarge.code, ValidationError.code}
    assert {"file_not_found", "output_not_writable", "interrupted", "unknown_engine"} <= codes
    assert codes - documented_cli_codes() == set()


@pytest.mark.parametrize("name", BAD_AUDIO_CASES)
def test_bad_audio_codes_printed_by_the_command_are_documented(
    user,
    corpus,
    media_root,
    name,
) -> None:
    path, code = corpus[name]
    with pytest.raises(CommandError) as exc:
        transcribe(str(path), user="alice")
    printed = str(exc.value).split(":", 1)[0]
    assert printed == code
    assert printed in documented_cli_codes()
    assert not Transcription.objects.exists()
