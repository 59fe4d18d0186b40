from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "transcription_platform.web"
    label = "transcription_platform_web"
    verbose_name = "Web pages"

    def ready(self) -> None:
        from django.core import checks

        from transcription_platform.web.checks import check_session_auth

        checks.register(check_session_auth, checks.Tags.security, "transcription_platform")
