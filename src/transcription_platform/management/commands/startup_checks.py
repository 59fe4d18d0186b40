"""``manage.py startup_checks``: refuse to start on a broken configuration.

Runs every system check (the deployment checks too when DEBUG is off) plus a
connection to each database, prints one readable line per problem and exits 1 when
any reaches ``--fail-level``. Meant for a container's entrypoint before
``migrate``/``gunicorn``::

    python manage.py startup_checks && python manage.py migrate --noinput && gunicorn ...
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.management.base import BaseCommand, CommandError, CommandParser

LEVELS = {
    "DEBUG": checks.DEBUG,
    "INFO": checks.INFO,
    "WARNING": checks.WARNING,
    "ERROR": checks.ERROR,
    "CRITICAL": checks.CRITICAL,
}


class Command(BaseCommand):
    help = (
        "Validate SECRET_KEY, ALLOWED_HOSTS, the database connection and the "
        "TRANSCRIPTION_PLATFORM settings; exit 1 listing every problem."
    )
    # The checks are this command's output, not a precondition that aborts it.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--fail-level",
            choices=list(LEVELS),
            default="ERROR",
            help="Lowest level of problem that makes the command fail (default: ERROR).",
        )
        parser.add_argument(
            "--database",
            action="append",
            dest="databases",
            help="Database alias to connect to (repeatable; default: every alias).",
        )

    def handle(
        self, *args: Any, fail_level: str, databases: list[str] | None, **options: Any
    ) -> None:
        messages = checks.run_checks(
            include_deployment_checks=not settings.DEBUG,
            databases=databases or list(settings.DATABASES),
        )
        problems = sorted(
            (m for m in messages if m.level >= checks.WARNING and not m.is_silenced()),
            key=lambda m: (-m.level, m.id or ""),
        )
        if not problems:
            self.stdout.write(self.style.SUCCESS("Startup checks passed."))
            return
        self.stderr.write(f"Startup checks found {len(problems)} problem(s):")
        for message in problems:
            level = "ERROR" if message.is_serious() else "WARNING"
            where = f"{message.obj}: " if message.obj is not None else ""
            line = f"  {level} {message.id}: {where}{message.msg}"
            if message.hint:
                line += f"\n      hint: {message.hint}"
            self.stderr.write(line)
        if any(message.level >= LEVELS[fail_level] for message in problems):
            raise CommandError("Start-up refused: fix the problems listed above.")
