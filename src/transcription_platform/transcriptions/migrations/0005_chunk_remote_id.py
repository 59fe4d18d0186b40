from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("transcription_platform_transcriptions", "0004_claim_leases"),
    ]

    operations = [
        migrations.AddField(
            model_name="transcriptionchunk",
            name="remote_id",
            field=models.CharField(
                blank=True,
                db_index=True,
                help_text="The provider's job id while an asynchronous engine works on it.",
                max_length=255,
            ),
        ),
    ]
