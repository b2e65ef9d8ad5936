"""Sign-up, log-in, token refresh and rotation, log-out, and /auth/me."""

from __future__ import annotations

import jwt
import pytest

from tests.api.conftest import Api, user_api
from tests.support.tenants import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def test_signup_returns_tokens_that_carry_the_user_id():
    response = Api().post(
        "/v1/auth/signup",
        {"email": "New.Person@Example.com", "password": "a long passphrase 42"},
    )
    body = response.json()
    assert response.status_code == 201
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == body["user"]["id"]
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0

    me = Api(body["access_token"]).get("/v1/auth/me").json()
    assert me["email"] == "New.Person@example.com"
    assert me["organizations"] == [] and me["workspaces"] == []


def test_signup_refuses_weak_passwords_and_taken_addresses():
    make_user("taken")
    weak = Api().post("/v1/auth/signup", {"email": "w@example.com", "password": "123"})
    assert weak.status_code == 400
    assert "password" in weak.json()["error"]["details"]

    Api().post("/v1/auth/signup", {"email": "t@example.com", "password": PASSWORD})
    again = Api().post(
        "/v1/auth/signup", {"email": "T@example.com", "password": PASSWORD}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_login_with_wrong_password_is_refused():
    user = make_user("login")
    response = Api().post(
        "/v1/auth/login", {"email": user.email, "password": "wrong password"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_refresh_tokens_rotate_and_work_once():
    user = make_user("refresh")
    tokens = Api().post("/v1/auth/login", {"email": user.email, "password": PASSWORD})
    refresh = tokens.json()["refresh_token"]

    first = Api().post("/v1/auth/refresh", {"refresh_token": refresh})
    replay = Api().post("/v1/auth/refresh", {"refresh_token": refresh})

    assert first.status_code == 200
    assert first.json()["refresh_token"] != refresh
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "invalid_refresh_token"
    assert Api(first.json()["access_token"]).get("/v1/auth/me").status_code == 200


def test_logout_revokes_the_access_token_at_once():
    api = user_api(make_user("logout"))
    assert api.get("/v1/auth/me").status_code == 200
    assert api.post("/v1/auth/logout").status_code == 204
    after = api.get("/v1/auth/me")
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "invalid_token"


def test_a_deactivated_user_is_refused_with_a_valid_token():
    user = make_user("gone")
    api = user_api(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert api.get("/v1/auth/me").status_code == 401


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "atr_live_short"])
def test_malformed_bearer_tokens_are_refused(token):
    response = Api(token).get("/v1/auth/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_me_lists_memberships(world):
    me = world.api("ws_viewer").get("/v1/auth/me").json()
    assert [o["role"] for o in me["organizations"]] == ["viewer"]
    assert [(w["id"], w["role"]) for w in me["workspaces"]] == [
        (str(world.a1.pk), "viewer")
    ]
    owner = world.api("owner").get("/v1/auth/me").json()
    assert {w["id"] for w in owner["workspaces"]} == {
        str(world.a1.pk),
        str(world.a2.pk),
    }


def test_api_keys_cannot_use_user_endpoints(world):
    response = world.api("key_all").get("/v1/auth/me")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "api_key_not_allowed"
