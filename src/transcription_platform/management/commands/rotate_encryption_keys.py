"""Re-encrypt every stored secret under the primary ``ENCRYPTION_KEYS`` entry."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.db.models.functions import Cast

from transcription_platform import crypto


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    """(model, [field names]) of every installed model with an EncryptedTextField."""
    found = []
    for model in apps.get_models():
        names = [
            field.name
            for field in model._meta.concrete_fields
            if isinstance(field, crypto.EncryptedTextField)
        ]
        if names:
            found.append((model, names))
    return found


def _raw(name: str) -> Cast:
    # Read/write the ciphertext itself: a plain TextField neither decrypts nor encrypts.
    return Cast(name, output_field=models.TextField())


class Command(BaseCommand):
    help = (
        "Re-encrypt every EncryptedTextField value with the first ENCRYPTION_KEYS entry. "
        "Run it after putting a new key first; drop the old key once it succeeds."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Rows per transaction (default 500)."
        )

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        crypto.get_fernet()  # a bad key fails here, before any row is touched
        rotated = failed = 0
        for model, names in encrypted_fields():
            manager = model._base_manager
            pks = list(manager.order_by("pk").values_list("pk", flat=True))
            for start in range(0, len(pks), batch_size):
                with transaction.atomic():
                    rows = (
                        manager.filter(pk__in=pks[start : start + batch_size])
                        .select_for_update()
                        .values_list("pk", *(_raw(name) for name in names))
                    )
                    for pk, *tokens in rows:
                        updates = {}
                        for name, token in zip(names, tokens, strict=True):
                            if not token:
                                continue
                            try:
                                updates[name] = models.Value(
                                    crypto.rotate(token), output_field=models.TextField()
                                )
                            except crypto.DecryptionError:
                                failed += 1
                                self.stderr.write(
                                    f"{model._meta.label} pk={pk} {name}: no configured key "
                                    "decrypts it; left unchanged."
                                )
                        if updates:
                            manager.filter(pk=pk).update(**updates)
                            rotated += len(updates)
        self.stdout.write(f"Re-encrypted {rotated} value(s) under the primary key.")
        if failed:
            raise CommandError(f"{failed} value(s) could not be decrypted; see above.")
