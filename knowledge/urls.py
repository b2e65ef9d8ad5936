from django.urls import path

from knowledge import views

urlpatterns = [
    path("w/<uuid:workspace_id>/documents/", views.documents, name="documents"),
]
