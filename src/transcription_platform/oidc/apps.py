from django.apps import AppConfig


class OidcConfig(AppConfig):
    name = "transcription_platform.oidc"
    label = "transcription_platform_oidc"
    verbose_name = "OpenID Connect sign-in"
    default_auto_field = "django.db.models.BigAutoField"
    # No API of its own: the auth class plugs into every router through AUTHENTICATION.
    api_routers: list[tuple[str, str]] = []

    def ready(self) -> None:
        from transcription_platform.oidc import checks  # noqa: F401  (registers system checks)
