from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.decorators.cache import cache_page
from django.views.i18n import JavaScriptCatalog

from portal import languages
from portal.auth import oidc
from portal.auth import views as sign_in_views

# Built once per language and process, not per page: its sentences change only with a deploy.
JAVASCRIPT_CATALOG = cache_page(24 * 60 * 60, key_prefix="jsi18n")(JavaScriptCatalog.as_view())

urlpatterns = [
    # Before the admin's own URLs: the admin signs people in through the portal's sign-in.
    path("admin/login/", sign_in_views.admin_sign_in, name="admin_sign_in"),
    path("admin/", admin.site.urls),
    path("accounts/login/", sign_in_views.sign_in, name="login"),
    path("accounts/logout/", sign_in_views.PortalLogoutView.as_view(), name="logout"),
    path("language/", languages.switch_language, name="switch_language"),
    # The static scripts' sentences in the page's language (static/js/*.js call gettext()).
    path("jsi18n/", login_not_required(JAVASCRIPT_CATALOG), name="javascript-catalog"),
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
