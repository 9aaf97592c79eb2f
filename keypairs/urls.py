from django.urls import path

from keypairs import views, views_access, views_bind, views_import, views_life, views_rotation

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.health, name="health"),
    path("keypairs/", views.keypair_list, name="keypair_list"),
    path("keypairs/new", views.keypair_create, name="keypair_create"),
    path("keypairs/<uuid:public_id>/", views.keypair_detail, name="keypair_detail"),
    path("keypairs/<uuid:public_id>/download", views.keypair_download, name="keypair_download"),
    path("keypairs/<uuid:public_id>/report", views.keypair_report, name="keypair_report"),
    path("keypairs/<uuid:public_id>/delete", views_life.keypair_delete, name="keypair_delete"),
    path("keypairs/<uuid:public_id>/edit", views_life.keypair_change, name="keypair_change"),
    path("keypairs/<uuid:public_id>/rotate", views_rotation.keypair_rotate, name="keypair_rotate"),
    path("keypairs/<uuid:public_id>/bind/", views_bind.keypair_bind, name="keypair_bind"),
    path("keypairs/<uuid:public_id>/unbind/", views_bind.keypair_unbind_instance, name="keypair_unbind_instance"),
    path("keypairs/import", views_import.keypair_import, name="keypair_import"),
    path("keypairs/import/preview", views_import.keypair_import_preview, name="keypair_import_preview"),
]

# Access requests: the approvers' queue and each request's page (keypairs/views_access.py).
urlpatterns += [
    path("access/requests/", views_access.access_request_queue, name="access_request_queue"),
    path("access/requests/<uuid:public_id>/", views_access.access_request_detail, name="access_request_detail"),
    path(
        "access/requests/<uuid:public_id>/approve",
        views_access.access_request_approve_view,
        name="access_request_approve",
    ),
    path("access/requests/<uuid:public_id>/deny", views_access.access_request_deny_view, name="access_request_deny"),
    path(
        "access/requests/<uuid:public_id>/retry-bind",
        views_access.access_request_retry_bind_view,
        name="access_request_retry_bind",
    ),
    path("access/my-requests/", views_access.my_access_requests, name="my_access_requests"),
]
