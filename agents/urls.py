from django.urls import path

from agents import views

urlpatterns = [
    path("w/<uuid:workspace_id>/chat/", views.chat, name="chat"),
    path("w/<uuid:workspace_id>/agents/", views.agents, name="agents"),
]
