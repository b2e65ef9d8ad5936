"""Writes of metering: usage events, daily summaries, usage alerts, plan edits.

Other apps report what they used through :func:`usage_record` and nothing
else; billing owns the tables. Stripe-facing writes are in
``billing.subscriptions``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from billing.models import (
    DailyUsageSummary,
    Plan,
    UsageAlert,
    UsageAlertKind,
    UsageEvent,
    UsageEventType,
)
from billing.pricing import estimate_cost
from tenancy import quotas
from tenancy.models import (
    Organization,
    OrganizationMember,
    OrganizationRole,
    Workspace,
    WorkspaceMember,
    WorkspaceRole,
)
from tenancy.services import audit_record

logger = logging.getLogger(__name__)


def usage_record(
    *,
    workspace: Workspace,
    event_type: str,
    input_tokens: int = 0,
    output_tokens: int = 0,
    model_name: str = "",
    agent_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    api_key_id: uuid.UUID | None = None,
    is_test: bool = False,
    estimated_cost_usd: Decimal | None = None,
) -> UsageEvent:
    """Record one metered chat, search or ingestion in ``workspace``.

    Call it inside the caller's tenant context (the request, or the task's
    ``as_workspace``): it is one INSERT in the caller's transaction, so a
    request that rolls back leaves no usage behind, and it costs the request
    about a third of a millisecond (bench/test_usage_record.py). It is not
    audited: usage is not a security-relevant change, and the event is its
    own record. The cost is estimated from the model's list price unless
    the caller knows it.
    """
    if event_type not in UsageEventType.values:
        raise ValueError(f"Unknown usage event type {event_type!r}.")
    if input_tokens < 0 or output_tokens < 0:
        raise ValueError("Token counts cannot be negative.")
    if estimated_cost_usd is None:
        estimated_cost_usd = estimate_cost(model_name, input_tokens, output_tokens)
    return UsageEvent.objects.create(
        workspace=workspace,
        organization_id=workspace.organization_id,
        event_type=event_type,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
        model_name=model_name[:100],
        agent_id=agent_id,
        session_id=session_id,
        user_id=user_id,
        api_key_id=api_key_id,
        is_test=is_test,
        estimated_cost_usd=estimated_cost_usd,
    )


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
    return start, start + timedelta(days=1)


@transaction.atomic
def usage_summary_build(*, workspace: Workspace, day: date) -> DailyUsageSummary | None:
    """Rebuild ``workspace``'s summary of ``day`` from its events.

    The summary is computed from scratch and written over the old one, so
    running this again — for any day, at any time, concurrently — leaves
    the same row. A day without events has no summary. Live and test usage
    are kept apart: only live events count as requests, tokens and cost.
    """
    start, end = _day_bounds(day)
    live = Q(is_test=False)
    totals = UsageEvent.objects.filter(
        workspace=workspace, created_at__gte=start, created_at__lt=end
    ).aggregate(
        events=Count("id"),
        total_requests=Count("id", filter=live),
        chat_requests=Count("id", filter=live & Q(event_type=UsageEventType.CHAT)),
        search_requests=Count("id", filter=live & Q(event_type=UsageEventType.SEARCH)),
        ingest_requests=Count("id", filter=live & Q(event_type=UsageEventType.INGEST)),
        test_requests=Count("id", filter=Q(is_test=True)),
        input_tokens=Sum("input_tokens", filter=live, default=0),
        output_tokens=Sum("output_tokens", filter=live, default=0),
        total_tokens=Sum("total_tokens", filter=live, default=0),
        estimated_cost_usd=Sum("estimated_cost_usd", filter=live, default=0),
    )
    if not totals.pop("events"):
        DailyUsageSummary.objects.filter(workspace=workspace, date=day).delete()
        return None

    summary = DailyUsageSummary(
        workspace=workspace,
        organization_id=workspace.organization_id,
        date=day,
        **totals,
    )
    DailyUsageSummary.objects.bulk_create(
        [summary],
        update_conflicts=True,
        unique_fields=["workspace", "date"],
        update_fields=[*totals, "updated_at"],
    )
    return DailyUsageSummary.objects.get(workspace=workspace, date=day)


def _recipients(
    organization_id: uuid.UUID, workspace_id: uuid.UUID | None
) -> list[str]:
    """Owners and admins of the organization, and of the workspace if given."""
    emails = set(
        OrganizationMember.objects.filter(
            organization_id=organization_id,
            role__in=[OrganizationRole.OWNER, OrganizationRole.ADMIN],
            user__is_active=True,
        ).values_list("user__email", flat=True)
    )
    if workspace_id is not None:
        emails |= set(
            WorkspaceMember.objects.filter(
                workspace_id=workspace_id,
                role=WorkspaceRole.ADMIN,
                user__is_active=True,
            ).values_list("user__email", flat=True)
        )
    return sorted(emails)


def _alert(
    *,
    workspace: Workspace,
    kind: str,
    subject_id: uuid.UUID,
    period_start: datetime,
    used: int,
    maximum: int,
) -> UsageAlert | None:
    """Record and send one alert, unless it was already sent this period."""
    recipients = _recipients(
        workspace.organization_id,
        workspace.pk if kind == UsageAlertKind.DOCUMENTS else None,
    )
    try:
        with transaction.atomic():
            alert = UsageAlert.objects.create(
                workspace=workspace,
                organization_id=workspace.organization_id,
                kind=kind,
                subject_id=subject_id,
                period_start=period_start,
                used=used,
                maximum=maximum,
                recipients=recipients,
            )
    except IntegrityError:
        return None  # sent already this period (perhaps a moment ago, elsewhere)

    audit_record(
        action="usage.alert_sent",
        organization_id=workspace.organization_id,
        workspace_id=workspace.pk,
        target=alert,
        metadata={"kind": kind, "used": used, "maximum": maximum},
    )
    subject, body = _alert_text(workspace, kind, used, maximum)
    transaction.on_commit(
        lambda: send_mail(
            subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False
        )
    )
    logger.info(
        "usage alert %s for %s (%s of %s) to %d recipients",
        kind,
        subject_id,
        used,
        maximum,
        len(recipients),
    )
    return alert


def _alert_text(
    workspace: Workspace, kind: str, used: int, maximum: int
) -> tuple[str, str]:
    organization = workspace.organization
    share = round(100 * used / maximum)
    if kind == UsageAlertKind.MONTHLY_REQUESTS:
        return (
            f"{organization.name} has used {share}% of its monthly requests",
            f"{organization.name} has made {used} of the {maximum} requests its "
            f"{organization.plan_tier} plan includes this period. Past the limit, "
            "requests are refused until the period ends; upgrade the plan to "
            "avoid that.\n",
        )
    return (
        f"{workspace.name} holds {share}% of its document limit",
        f"The workspace {workspace.name} of {organization.name} holds {used} of "
        f"the {maximum} documents its plan allows. Past the limit, new documents "
        "are refused; upgrade the plan or remove documents.\n",
    )


def usage_alerts_check(*, workspace: Workspace) -> list[UsageAlert]:
    """Alert admins when usage passes the alert ratio of a limit, once a period.

    Checks the organization's monthly requests and the workspace's documents.
    Runs as system work inside ``workspace``.
    """
    organization = Organization.objects.get(pk=workspace.organization_id)
    workspace.organization = organization
    ratio = float(settings.ATRIUM_USAGE_ALERT_RATIO)
    period = quotas.period_start(organization)
    sent = []

    checks = [
        (
            UsageAlertKind.MONTHLY_REQUESTS,
            organization.pk,
            quotas.monthly_requests_used(organization),
            quotas.limit_for(organization, "monthly_requests"),
        ),
        (
            UsageAlertKind.DOCUMENTS,
            workspace.pk,
            workspace.document_count,
            quotas.limit_for(organization, "documents_per_workspace"),
        ),
    ]
    for kind, subject_id, used, maximum in checks:
        if not maximum or used < ratio * maximum:
            continue
        alert = _alert(
            workspace=workspace,
            kind=kind,
            subject_id=subject_id,
            period_start=period,
            used=used,
            maximum=maximum,
        )
        if alert is not None:
            sent.append(alert)
    return sent


@transaction.atomic
def plan_update(*, plan: Plan, fields: dict[str, Any]) -> list[uuid.UUID]:
    """Change a plan and apply its limits to every organization on it.

    Runs as staff (the admin). Organizations with custom limits keep theirs.
    Returns the ids of the organizations changed.
    """
    for name, value in fields.items():
        setattr(plan, name, value)
    plan.save()
    limits = {f"max_{name}": value for name, value in plan.limits().items()}
    organizations = Organization.objects.select_for_update().filter(
        plan_tier=plan.tier, custom_limits=False, deleted_at__isnull=True
    )
    changed = list(organizations.values_list("pk", flat=True))
    organizations.update(**limits, updated_at=timezone.now())
    audit_record(
        action="plan.updated",
        target=plan,
        metadata={
            "tier": plan.tier,
            "limits": plan.limits(),
            "organizations": len(changed),
        },
    )
    return changed
