"""Users and clients of the test provider: ``python -m tests.oidc_provider.seed``."""

import django

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402

from tests.oidc_provider import CLIENT_SECRET, PASSWORD  # noqa: E402


def seed() -> None:
    admins, _ = Group.objects.get_or_create(name="tp-admins")
    auditors, _ = Group.objects.get_or_create(name="tp-api:auditor")
    alice = User.objects.create_user("alice", "alice@idp.test", PASSWORD)
    alice.groups.add(admins)
    bob = User.objects.create_user("bob", "bob@idp.test", PASSWORD)
    bob.groups.add(auditors)
    User.objects.create_user("carol", "carol@idp.test", PASSWORD)
    for name in ("tp-api", "other-app", "short-lived"):
        Application.objects.create(
            name=name,
            client_id=name,
            client_secret=CLIENT_SECRET,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_PASSWORD,
            algorithm=Application.RS256_ALGORITHM,
        )


if __name__ == "__main__":
    seed()
