"""A site with its own NinjaAPI mounts our routers itself (docs/installation.md)."""

from __future__ import annotations

import pytest
from ninja import NinjaAPI
from ninja.testing import TestClient

from transcription_platform.api import install_platform, iter_routers

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def host_api() -> NinjaAPI:
    api = NinjaAPI(title="Host site", urls_namespace="host_site_api")

    @api.get("/ping")
    def ping(request):
        return {"pong": True}

    install_platform(api)
    for prefix, router in iter_routers():
        api.add_router(f"/speech{prefix}", router)
    return api


def test_host_api_serves_its_own_and_our_operations(host_api, user, password):
    client = TestClient(host_api)
    assert client.get("/ping").json() == {"pong": True}
    response = client.post("/speech/auth/login/", json={"email": user.email, "password": password})
    assert response.status_code == 200
    access = response.json()["access"]
    listing = client.get("/speech/transcriptions/", headers={"Authorization": f"Bearer {access}"})
    assert listing.status_code == 200
    assert listing.json()["count"] == 0


def test_host_api_gets_our_error_shape(host_api):
    response = TestClient(host_api).get("/speech/transcriptions/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
