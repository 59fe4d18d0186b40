from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from transcription_platform.accounts import services
from transcription_platform.accounts.models import ApiKey, TranscriptionSettings
from transcription_platform.generics import ModelAdmin, ModelForm


class TranscriptionSettingsForm(ModelForm[TranscriptionSettings]):
    """The provider key is write-only here too: it is never rendered back."""

    new_api_key = forms.CharField(
        required=False,
        strip=True,
        max_length=512,
        label="New provider API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave empty to keep the current key.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the provider API key")

    class Meta:
        model = TranscriptionSettings
        fields = ("user", "engine", "model", "language", "prompt", "analysis_enabled")

    def save(self, commit: bool = True) -> TranscriptionSettings:
        instance = super().save(commit=False)
        if self.cleaned_data.get("clear_api_key"):
            instance.api_key = ""
        elif self.cleaned_data.get("new_api_key"):
            instance.api_key = self.cleaned_data["new_api_key"]
        if commit:
            instance.save()
        return instance


@admin.register(TranscriptionSettings)
class TranscriptionSettingsAdmin(ModelAdmin[TranscriptionSettings]):
    form = TranscriptionSettingsForm
    list_display = ("user", "engine", "model", "language", "has_api_key", "updated_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__email")
    raw_id_fields = ("user",)

    @admin.display(boolean=True, description="Own API key")
    def has_api_key(self, obj: TranscriptionSettings) -> bool:
        return obj.has_api_key


@admin.register(ApiKey)
class ApiKeyAdmin(ModelAdmin[ApiKey]):
    """Keys are created through the API (their secret is shown once); admins revoke.

    Scopes are shown, not edited: a key that needs other scopes is replaced (create the
    new one, revoke the old), so every key's powers are fixed from its creation.
    """

    list_display = (
        "name",
        "user",
        "prefix",
        "scope_list",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("revoked_at",)
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__username", "user__email")
    readonly_fields = (
        "user",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    exclude = ("secret_hash",)
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    @admin.action(description="Revoke the selected API keys", permissions=("change",))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = services.revoke_api_keys(queryset, actor=request.user, request=request)
        self.message_user(request, f"Revoked {revoked} API key(s).")
