from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import AppConfig

if TYPE_CHECKING:
    from tenancy.models import Organization


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import pre_save

        from billing import webhooks
        from tenancy.models import Organization

        webhooks.connect()
        # Tenancy creates organizations but cannot import billing (imports run
        # one way), so billing gives a new one its plan's stored limits here.
        pre_save.connect(
            _limits_for_new_organization,
            sender=Organization,
            dispatch_uid="billing.organization_limits_from_plan",
        )

        from billing import portability

        portability.register()


def _limits_for_new_organization(
    sender: type, instance: Organization, raw: bool = False, **kwargs: Any
) -> None:
    from billing.services import organization_limits_from_plan

    if instance._state.adding and not raw:
        organization_limits_from_plan(instance)
