from django.urls import path

from agents import views

W = "w/<uuid:workspace_id>"
SESSION = f"{W}/chat/s/<uuid:session_id>"

urlpatterns = [
    path(f"{W}/chat/", views.chat, name="chat"),
    path(f"{W}/chat/answer/", views.chat_answer, name="chat_answer"),
    path(f"{W}/chat/sessions/", views.chat_sessions, name="chat_sessions"),
    path(f"{SESSION}/", views.chat, name="chat_session"),
    path(f"{SESSION}/delete/", views.chat_session_delete, name="chat_session_delete"),
    path(f"{SESSION}/m/<uuid:message_id>/", views.chat_message, name="chat_message"),
    path(
        f"{SESSION}/m/<uuid:message_id>/sources/<str:label>/",
        views.chat_source,
        name="chat_source",
    ),
    path(f"{W}/agents/", views.agents, name="agents"),
    path(f"{W}/agents/new/", views.agent_new, name="agent_new"),
    path(f"{W}/agents/<uuid:agent_id>/", views.agent_detail, name="agent"),
    path(
        f"{W}/agents/<uuid:agent_id>/activation/",
        views.agent_activation,
        name="agent_activation",
    ),
    path(
        f"{W}/agents/<uuid:agent_id>/delete/", views.agent_delete, name="agent_delete"
    ),
]
