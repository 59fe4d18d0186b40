from django.apps import AppConfig


class OpenAICompatConfig(AppConfig):
    name = "transcription_platform.openai_compat"
    label = "transcription_platform_openai_compat"
    verbose_name = "OpenAI-compatible endpoint"
    default_auto_field = "django.db.models.BigAutoField"
    # Nothing under the platform API's prefix: the OpenAI face has its own URLconf
    # (``include("transcription_platform.openai_compat.urls")`` at ``v1/``) because it
    # answers in OpenAI's error shape, not ours.
    api_routers: list[tuple[str, str]] = []
