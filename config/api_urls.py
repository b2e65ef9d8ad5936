"""The versioned REST API: everything under /v1/."""

from django.urls import path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from agents.api import chat, credentials, evaluation
from agents.api import views as agents
from billing.api import views as billing
from knowledge.api import views as knowledge
from tenancy.api import auth, invitations
from tenancy.api import exports as tenancy_exports
from tenancy.api import views as tenancy
from tenancy.api import webhooks as tenancy_webhooks

ORG = "organizations/<uuid:organization_id>"
WS = "workspaces/<uuid:workspace_id>"

urlpatterns = [
    path("auth/signup", auth.SignupView.as_view(), name="auth-signup"),
    path("auth/login", auth.LoginView.as_view(), name="auth-login"),
    path("auth/refresh", auth.RefreshView.as_view(), name="auth-refresh"),
    path("auth/logout", auth.LogoutView.as_view(), name="auth-logout"),
    path("auth/me", auth.MeView.as_view(), name="auth-me"),
    path("organizations", tenancy.OrganizationListView.as_view()),
    path(f"{ORG}", tenancy.OrganizationDetailView.as_view()),
    path(f"{ORG}/workspaces", tenancy.OrganizationWorkspacesView.as_view()),
    path(f"{ORG}/members", tenancy.OrganizationMembersView.as_view()),
    path(
        f"{ORG}/members/<uuid:user_id>",
        tenancy.OrganizationMemberDetailView.as_view(),
    ),
    path(
        f"{ORG}/provider-credentials",
        credentials.ProviderCredentialListView.as_view(),
    ),
    path(
        f"{ORG}/provider-credentials/<str:provider>",
        credentials.ProviderCredentialDetailView.as_view(),
    ),
    path(f"{ORG}/invitations", invitations.OrganizationInvitationsView.as_view()),
    path(
        f"{ORG}/invitations/<uuid:invitation_id>",
        invitations.OrganizationInvitationDetailView.as_view(),
    ),
    path("invitations/accept", invitations.InvitationAcceptView.as_view()),
    path(f"{ORG}/usage", billing.OrganizationUsageView.as_view()),
    path(f"{ORG}/billing", billing.OrganizationBillingView.as_view()),
    path(f"{ORG}/billing/checkout", billing.OrganizationCheckoutView.as_view()),
    path(f"{ORG}/billing/portal", billing.OrganizationPortalView.as_view()),
    path(f"{WS}", tenancy.WorkspaceDetailView.as_view()),
    path(f"{WS}/members", tenancy.WorkspaceMembersView.as_view()),
    path(f"{WS}/members/<uuid:user_id>", tenancy.WorkspaceMemberDetailView.as_view()),
    path(f"{WS}/api-keys", tenancy.WorkspaceKeysView.as_view()),
    path(f"{WS}/api-keys/<uuid:key_id>", tenancy.WorkspaceKeyDetailView.as_view()),
    path(f"{WS}/webhooks", tenancy_webhooks.WebhookListView.as_view()),
    path(
        f"{WS}/webhooks/<uuid:endpoint_id>",
        tenancy_webhooks.WebhookDetailView.as_view(),
    ),
    path(
        f"{WS}/webhooks/<uuid:endpoint_id>/rotate-secret",
        tenancy_webhooks.WebhookSecretRotateView.as_view(),
    ),
    path(
        f"{WS}/webhooks/<uuid:endpoint_id>/deliveries",
        tenancy_webhooks.WebhookDeliveriesView.as_view(),
    ),
    path(
        f"{WS}/webhooks/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/replay",
        tenancy_webhooks.WebhookDeliveryReplayView.as_view(),
    ),
    path(f"{WS}/exports", tenancy_exports.ExportListView.as_view()),
    path(f"{WS}/exports/<uuid:export_id>", tenancy_exports.ExportDetailView.as_view()),
    path(
        f"{WS}/exports/<uuid:export_id>/download",
        tenancy_exports.ExportDownloadView.as_view(),
    ),
    path("erasure-receipts", tenancy_exports.ErasureReceiptListView.as_view()),
    path(
        "erasure-receipts/<uuid:receipt_id>",
        tenancy_exports.ErasureReceiptDetailView.as_view(),
    ),
    path(f"{WS}/agents", agents.AgentListView.as_view()),
    path(f"{WS}/agents/<uuid:agent_id>", agents.AgentDetailView.as_view()),
    path(f"{WS}/documents", knowledge.DocumentListView.as_view()),
    path(f"{WS}/documents/<uuid:document_id>", knowledge.DocumentDetailView.as_view()),
    path(
        f"{WS}/documents/<uuid:document_id>/content",
        knowledge.DocumentContentView.as_view(),
    ),
    path(
        f"{WS}/documents/<uuid:document_id>/retry",
        knowledge.DocumentRetryView.as_view(),
    ),
    path(f"{WS}/ingest", knowledge.IngestView.as_view()),
    path(f"{WS}/ingest/<uuid:job_id>", knowledge.IngestJobView.as_view()),
    path(f"{WS}/search", knowledge.SearchView.as_view()),
    path(f"{WS}/chat", chat.ChatView.as_view()),
    path(f"{WS}/chat/sessions", chat.ChatSessionListView.as_view()),
    path(f"{WS}/chat/sessions/<uuid:session_id>", chat.ChatSessionDetailView.as_view()),
    path(f"{WS}/eval-sets", evaluation.EvalSetListView.as_view()),
    path(f"{WS}/eval-sets/<uuid:eval_set_id>", evaluation.EvalSetDetailView.as_view()),
    path(
        f"{WS}/eval-sets/<uuid:eval_set_id>/runs", evaluation.EvalRunListView.as_view()
    ),
    path(
        f"{WS}/eval-sets/<uuid:eval_set_id>/runs/<uuid:run_id>",
        evaluation.EvalRunDetailView.as_view(),
    ),
    path(
        f"{WS}/eval-sets/<uuid:eval_set_id>/compare",
        evaluation.EvalRunCompareView.as_view(),
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]
