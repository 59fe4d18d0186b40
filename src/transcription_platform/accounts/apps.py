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
        from transcription_platform.accounts import roles

        roles.connect_signals()
