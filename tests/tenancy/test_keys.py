"""API key format, checksum, storage and authentication."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tenancy import keys, services
from tenancy.authentication import authenticate_api_key
from tenancy.context import as_user
from tenancy.keys import ALPHABET
from tenancy.models import APIKey


def test_generated_keys_have_the_documented_shape():
    live, test = keys.generate("live"), keys.generate("test")
    assert live.raw.startswith("atr_live_") and len(live.raw) == 9 + 32 + 6
    assert test.raw.startswith("atr_test_")
    assert keys.parse(live.raw) == live
    assert live.prefix == live.raw[: 9 + 8]
    # Stripe's secret-key prefixes are never used.
    assert not live.raw.startswith(("sk_live_", "sk_test_", "rk_live_"))


def test_every_single_character_mutation_fails_the_checksum():
    raw = keys.generate("live").raw
    mutations = 0
    for position in range(len("atr_live_"), len(raw)):
        for replacement in ALPHABET:
            if replacement == raw[position]:
                continue
            mutated = raw[:position] + replacement + raw[position + 1 :]
            assert keys.parse(mutated) is None, mutated
            mutations += 1
    assert mutations == (32 + 6) * 61


def test_malformed_keys_are_refused():
    raw = keys.generate("live").raw
    for bad in ["", raw[:-1], raw + "0", raw.replace("atr_", "sk_"), "atr_prod_x"]:
        assert keys.parse(bad) is None


@pytest.mark.django_db
def test_only_a_digest_is_stored(tenant_a):
    with as_user(tenant_a.owner.pk):
        created = services.api_key_create(workspace=tenant_a.workspace, name="k")
        row = APIKey.objects.get(pk=created.api_key.pk)
        with connection.cursor() as cursor:
            cursor.execute("SELECT row_to_json(k)::text FROM api_keys k")
            dump = " ".join(r[0] for r in cursor.fetchall())
    assert created.raw_key not in dump
    assert row.key_hash == keys.digest(created.raw_key)
    assert row.prefix == keys.parse(created.raw_key).prefix


@pytest.mark.django_db
def test_a_key_failing_its_checksum_costs_no_query(django_assert_num_queries):
    raw = keys.generate("live").raw
    forged = raw[:-1] + ("0" if raw[-1] != "0" else "1")
    with django_assert_num_queries(0):
        assert authenticate_api_key(forged).error == "invalid_api_key"


@pytest.mark.django_db
def test_authentication_states(tenant_a):
    with as_user(tenant_a.owner.pk):
        good = services.api_key_create(
            workspace=tenant_a.workspace, name="good", scopes=["search"]
        )
        expired = services.api_key_create(
            workspace=tenant_a.workspace,
            name="old",
            expires_at=timezone.now() - timedelta(minutes=1),
        )
        revoked = services.api_key_create(workspace=tenant_a.workspace, name="gone")
        services.api_key_revoke(api_key=revoked.api_key)

    result = authenticate_api_key(good.raw_key)
    assert result.error == ""
    assert result.principal.api_key_id == good.api_key.pk
    assert result.principal.api_key_scopes == ("search",)
    assert authenticate_api_key(expired.raw_key).error == "api_key_expired"
    assert authenticate_api_key(revoked.raw_key).error == "api_key_revoked"
    # A well-formed key that was never issued.
    assert authenticate_api_key(keys.generate("live").raw).error == "invalid_api_key"
