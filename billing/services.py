"""Writes of metering: usage events, daily summaries, usage alerts, plan edits.

Other apps report what they used through :func:`usage_record` and nothing
else; billing owns the tables. Stripe-facing writes are in
``billing.subscriptions``.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import redis
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
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
from billing.plans import is_lower, organization_limits, plan_get
from billing.pricing import estimate_cost
from tenancy import quotas, ratelimit
from tenancy.context import as_workspace, current_principal
from tenancy.models import (
    Organization,
    OrganizationMember,
    OrganizationRole,
    PlanTier,
    Workspace,
    WorkspaceMember,
    WorkspaceRole,
)
from tenancy.services import audit_record
from tenancy.webhooks import event_emit, organization_event_emit

logger = logging.getLogger(__name__)


def _buffer_key() -> str:
    # One buffer per database: events are flushed into the database they
    # were recorded against (concurrent test databases share one Redis).
    return f"atrium:usage:buffer:{connection.settings_dict['NAME']}"


def _visible(workspace_id: uuid.UUID) -> bool:
    """Whether the current principal may write into ``workspace_id``.

    An API key or system work names its one workspace, so no query is needed
    (chat and search by key, the common case); a user's reach is asked of
    the same function row-level security uses.
    """
    principal = current_principal()
    if workspace_id in (principal.api_key_workspace_id, principal.workspace_id):
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::uuid = ANY (atrium_visible_workspace_ids())", [workspace_id]
        )
        row = cursor.fetchone()
    return bool(row and row[0])


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
    tools_called: list[str] | tuple[str, ...] = (),
    latency_ms: int | None = None,
    success: bool = True,
    error_code: str = "",
    despite_rollback: bool = False,
) -> UsageEvent:
    """Meter one chat, search or ingestion in ``workspace``; returns it unsaved.

    Call it inside the caller's tenant context (the request, or the task's
    ``as_workspace``). A committed INSERT would cost the request a WAL flush
    (about 4 ms here: bench/test_usage_record.py), so the event is instead
    pushed to a Redis list when the caller's transaction commits — a request
    that rolls back meters nothing — and ``usage_events_flush`` writes the
    list to PostgreSQL in batches every few seconds. With Redis down the
    event is written at once instead. Not audited: usage is not a
    security-relevant change, and the event is its own record. The cost is
    estimated from the model's list price unless the caller knows it.

    ``despite_rollback`` buffers the event at once instead of on commit: for
    a request that failed after spending model tokens, whose transaction is
    about to roll back but whose tokens were spent all the same.
    """
    if event_type not in UsageEventType.values:
        raise ValueError(f"Unknown usage event type {event_type!r}.")
    if input_tokens < 0 or output_tokens < 0:
        raise ValueError("Token counts cannot be negative.")
    if latency_ms is not None and latency_ms < 0:
        raise ValueError("Latency cannot be negative.")
    if not _visible(workspace.pk):
        # Row-level security would refuse the row at flush time; refuse now,
        # where the caller can see the mistake.
        raise PermissionError("Usage can only be recorded in the caller's workspace.")
    if estimated_cost_usd is None:
        estimated_cost_usd = estimate_cost(model_name, input_tokens, output_tokens)

    event = UsageEvent(
        id=uuid.uuid4(),
        workspace_id=workspace.pk,
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
        tools_called=list(dict.fromkeys(name[:64] for name in tools_called)),
        latency_ms=latency_ms,
        success=success,
        error_code=error_code[:64],
        created_at=timezone.now(),
    )
    payload = json.dumps(
        {
            field.attname: getattr(event, field.attname)
            for field in UsageEvent._meta.concrete_fields
        },
        default=_encode,
    )
    key = _buffer_key()
    if despite_rollback:
        _buffer_push(key, payload)
    else:
        transaction.on_commit(lambda: _buffer_push(key, payload))
    return event


def _encode(value: object) -> str:
    # Full precision: DjangoJSONEncoder would cut times to milliseconds.
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    raise TypeError(f"cannot buffer {type(value).__name__}")


def _buffer_push(key: str, payload: str) -> None:
    if ratelimit.available():
        try:
            ratelimit.client().rpush(key, payload)
            return
        except redis.RedisError:
            ratelimit.tripped()
    logger.warning("usage buffer unavailable; writing the event directly")
    _events_insert([payload])


def _events_insert(payloads: list[str]) -> int:
    """Write buffered events, each workspace's as system work inside it.

    Idempotent: an event already written (a flush interrupted before it
    trimmed the buffer) is skipped by its id.
    """
    by_workspace: dict[str, list[UsageEvent]] = {}
    for payload in payloads:
        try:
            fields = json.loads(payload)
            event = UsageEvent(**fields)
        except (ValueError, TypeError):
            logger.error("dropping a malformed usage event from the buffer")
            continue
        by_workspace.setdefault(str(event.workspace_id), []).append(event)

    written = 0
    for workspace_id, events in by_workspace.items():
        try:
            with transaction.atomic(), as_workspace(workspace_id):
                if not Workspace.objects.filter(pk=workspace_id).exists():
                    raise IntegrityError("workspace deleted")
                UsageEvent.objects.bulk_create(events, ignore_conflicts=True)
            written += len(events)
        except IntegrityError:
            # The workspace was deleted since; its usage goes with it.
            logger.warning(
                "dropping %d usage events of deleted workspace %s",
                len(events),
                workspace_id,
            )
    return written


FLUSH_BATCH = 1000


def usage_events_flush() -> int:
    """Move buffered usage events from Redis into PostgreSQL, in batches.

    One flusher at a time (a Redis lock); each batch is written, committed,
    and only then trimmed from the buffer, so a crash in between writes the
    batch again next time, which the ids make harmless. Returns the number
    of events written.
    """
    client = ratelimit.client()
    key = _buffer_key()
    lock = f"{key}:lock"
    if not client.set(lock, "1", nx=True, ex=300):
        return 0
    written = 0
    try:
        while True:
            batch = [
                raw.decode() if isinstance(raw, bytes) else str(raw)
                for raw in client.lrange(key, 0, FLUSH_BATCH - 1)
            ]
            if not batch:
                break
            written += _events_insert(batch)
            client.ltrim(key, len(batch), -1)
            if len(batch) < FLUSH_BATCH:
                break
    finally:
        client.delete(lock)
    return written


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
        failed_requests=Count("id", filter=live & Q(success=False)),
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
    _alert_event(workspace, kind, used, maximum)
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


def _alert_event(workspace: Workspace, kind: str, used: int, maximum: int) -> None:
    """Tell the webhooks: the organization's alert reaches all its workspaces."""
    data = {
        "kind": kind,
        "organization_id": str(workspace.organization_id),
        "used": used,
        "maximum": maximum,
        "ratio": round(used / maximum, 4),
    }
    if kind == UsageAlertKind.MONTHLY_REQUESTS:
        organization_event_emit(
            organization_id=workspace.organization_id,
            type="usage.threshold",
            data={**data, "scope": "organization"},
        )
    else:
        event_emit(
            workspace_id=workspace.pk,
            type="usage.threshold",
            data={**data, "scope": "workspace", "workspace_id": str(workspace.pk)},
        )


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


def organization_limits_from_plan(organization: Organization) -> None:
    """Give a new organization the stored limits of its plan (not saved here).

    Connected to the organization's ``pre_save`` by ``billing.apps``: tenancy
    creates organizations but may not import billing, where plans live. A
    limit its creator set (any value but the model's placeholder default)
    is kept, and so are all limits of an organization with custom limits.
    """
    if organization.custom_limits:
        return
    for name, value in plan_get(organization.plan_tier).limits().items():
        field = f"max_{name}"
        placeholder = getattr(Organization._meta.get_field(field), "default", None)
        if getattr(organization, field) == placeholder:
            setattr(organization, field, value)


@transaction.atomic
def organization_plan_set(
    *, organization: Organization, plan_tier: str
) -> Organization:
    """Move an organization to another plan by hand (staff, in the admin).

    Copies the stored plan's limits unless the organization has custom
    limits; a move to tighter limits starts the usual grace period, during
    which the previous limits stay in force. Audited with before and after.
    """
    if plan_tier not in PlanTier.values:
        raise ValueError(f"Unknown plan tier {plan_tier!r}.")
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    before = {"plan_tier": locked.plan_tier, **organization_limits(locked)}
    changes: dict[str, Any] = {"plan_tier": plan_tier}
    if not locked.custom_limits:
        new = plan_get(plan_tier).limits()
        changes.update({f"max_{name}": value for name, value in new.items()})
        old = organization_limits(locked)
        if is_lower(new, old):
            days = int(settings.ATRIUM_BILLING_GRACE_DAYS)
            changes["grace_ends_at"] = timezone.now() + timedelta(days=days)
            changes["grace_limits"] = old
        elif new != old:
            changes["grace_ends_at"], changes["grace_limits"] = None, {}
    for name, value in changes.items():
        setattr(locked, name, value)
        setattr(organization, name, value)
    locked.save(update_fields=[*changes, "updated_at"])
    audit_record(
        action="organization.plan_changed",
        organization_id=locked.pk,
        target=locked,
        metadata={
            "before": before,
            "after": {"plan_tier": plan_tier, **organization_limits(locked)},
            "source": "staff",
        },
    )
    return organization
