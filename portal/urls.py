from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path

from portal.auth import oidc
from portal.auth import views as sign_in_views

urlpatterns = [
    # Before the admin's own URLs: the admin signs people in through the portal's sign-in.
    path("admin/login/", sign_in_views.admin_sign_in, name="admin_sign_in"),
    path("admin/", admin.site.urls),
    path("accounts/login/", sign_in_views.sign_in, name="login"),
    path("accounts/logout/", sign_in_views.PortalLogoutView.as_view(), name="logout"),
    path("accounts/no-access/", sign_in_views.no_access, name="no_access"),
    # OpenID Connect (404 unless AUTH_MODE=oidc). The names are mozilla-django-oidc's.
    path(
        "oidc/authenticate/",
        login_not_required(oidc.SignInStartView.as_view()),
        name="oidc_authentication_init",
    ),
    path(
        "oidc/callback/",
        login_not_required(oidc.SignInCallbackView.as_view()),
        name="oidc_authentication_callback",
    ),
    path("", include("keypairs.urls")),
]
