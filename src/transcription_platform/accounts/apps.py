from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "transcription_platform.accounts"
    label = "transcription_platform_accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"
    # (prefix, dotted router) pairs mounted by transcription_platform.api.
    api_routers = [
        ("/auth/", "transcription_platform.accounts.api.router"),
        ("/auth/api-keys/", "transcription_platform.accounts.api_keys.router"),
        ("/settings/", "transcription_platform.accounts.settings_api.router"),
    ]

    def ready(self) -> None:
        from django.apps import apps
        from django.db.models.signals import pre_save

        from transcription_platform import roles
        from transcription_platform.accounts.tokens import hash_outstanding_token

        roles.connect_signals()
        if apps.is_installed("ninja_jwt.token_blacklist"):
            from ninja_jwt.token_blacklist.models import OutstandingToken

            pre_save.connect(
                hash_outstanding_token,
                sender=OutstandingToken,
                dispatch_uid="transcription_platform.hash_outstanding_token",
            )
