from django.urls import path

from knowledge import views

urlpatterns = [
    path("w/<uuid:workspace_id>/documents/", views.documents, name="documents"),
    path(
        "w/<uuid:workspace_id>/documents/upload/",
        views.document_upload,
        name="document_upload",
    ),
    path(
        "w/<uuid:workspace_id>/documents/<uuid:document_id>/",
        views.document_detail,
        name="document",
    ),
    path(
        "w/<uuid:workspace_id>/documents/<uuid:document_id>/retry/",
        views.document_retry,
        name="document_retry",
    ),
    path(
        "w/<uuid:workspace_id>/documents/<uuid:document_id>/replace/",
        views.document_replace,
        name="document_replace",
    ),
    path(
        "w/<uuid:workspace_id>/documents/<uuid:document_id>/delete/",
        views.document_delete,
        name="document_delete",
    ),
]
