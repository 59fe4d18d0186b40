"""Full-text GIN index over title + transcript, on PostgreSQL only (SQLite has no GIN;
the search there falls back to a LIKE scan)."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def _create(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    from transcription_platform.transcriptions.models import search_index

    schema_editor.add_index(apps.get_model("transcription_platform_transcriptions", "Transcription"), search_index())


def _drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    from transcription_platform.transcriptions.models import search_index

    schema_editor.remove_index(apps.get_model("transcription_platform_transcriptions", "Transcription"), search_index())


class Migration(migrations.Migration):
    dependencies = [("transcription_platform_transcriptions", "0001_initial")]
    operations = [migrations.RunPython(_create, _drop)]
