from tenancy.context import as_user
from tenancy.models import Workspace


def test_owner_sees_their_workspace(tenant_a, tenant_b):
    with as_user(tenant_a.owner.pk):
        names = list(Workspace.objects.values_list("id", flat=True))
    assert names == [tenant_a.workspace.id]
