from django.contrib import admin

from transcription_platform.generics import ModelAdmin
from transcription_platform.oidc.models import OidcIdentity


@admin.register(OidcIdentity)
class OidcIdentityAdmin(ModelAdmin[OidcIdentity]):
    list_display = ("subject", "issuer", "user", "email", "last_login_at")
    list_filter = ("issuer",)
    search_fields = ("subject", "email", "user__username")
    # The identity key comes from the provider; editing it would hand the account over.
    readonly_fields = ("issuer", "subject", "email", "created_at", "last_login_at")
    raw_id_fields = ("user",)
