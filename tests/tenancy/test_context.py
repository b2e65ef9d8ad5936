"""The one-line helpers that run a block as a principal."""

import pytest
from django.db import connection, transaction

from tenancy.context import (
    ANONYMOUS,
    Principal,
    apply_principal,
    as_anonymous,
    as_user,
    as_workspace,
    current_principal,
)

pytestmark = pytest.mark.django_db


def settings_now():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('app.current_user_id', true),"
            " current_setting('app.current_workspace_id', true)"
        )
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_context_cannot_be_set_outside_a_transaction():
    # In autocommit the setting would end with the statement, and the next
    # query would silently see nothing; refuse instead.
    assert not transaction.get_connection().in_atomic_block
    with pytest.raises(RuntimeError):
        apply_principal(ANONYMOUS)


def test_nested_blocks_restore_the_outer_principal(tenant_a):
    user_id = tenant_a.owner.pk
    workspace_id = tenant_a.workspace.pk

    with as_user(user_id):
        with as_workspace(workspace_id):
            assert settings_now() == ("", str(workspace_id))
            assert current_principal().workspace_id == workspace_id
        assert settings_now() == (str(user_id), "")
        with as_anonymous():
            assert settings_now() == ("", "")
        assert current_principal() == Principal(user_id=user_id)
    assert current_principal() == ANONYMOUS


@pytest.mark.django_db(transaction=True)
def test_an_error_in_the_block_rolls_the_work_back(tenant_a):
    from tenancy.models import Workspace

    with pytest.raises(ZeroDivisionError), as_user(tenant_a.owner.pk):
        Workspace.objects.filter(pk=tenant_a.workspace.pk).update(name="changed")
        raise ZeroDivisionError

    with as_user(tenant_a.owner.pk):
        assert Workspace.objects.get(pk=tenant_a.workspace.pk).name != "changed"


def test_principal_ids_must_be_uuids():
    with pytest.raises(ValueError):
        as_user("not-a-uuid")
    with pytest.raises(ValueError):
        as_workspace("1; DROP TABLE documents")
