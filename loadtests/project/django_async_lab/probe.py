"""``python -m django_async_lab.probe [FIXTURE ...]``, run by the lab under its settings: the
copies of the project's databases made afresh, migrated and given the fixtures, its static files
collected; then what Django says of the project, as JSON on the last line (what the project's
own modules print comes before): its applications, the copies, and each route of its URLconf
with what loading it needs (``route_facts``).
"""

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

from . import PROJECT_SETTINGS

CSRF_MIDDLEWARE = "django.middleware.csrf.CsrfViewMiddleware"
LOGIN_MIDDLEWARE = "django.contrib.auth.middleware.LoginRequiredMiddleware"
# A path converter in a pattern (``<int:pk>``, ``<slug>``), as Django spells it.
PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def application_path(setting_name, module_name):
    """``module:attribute`` of the project's ASGI or WSGI application, or None when it has none.

    The setting when it is there (Django needs WSGI_APPLICATION only for runserver), else the
    layout ``startproject`` writes: ``<package>.wsgi`` / ``<package>.asgi``.
    """
    from django.conf import settings

    package = os.environ[PROJECT_SETTINGS].split(".")[0]
    dotted = getattr(settings, setting_name, None) or f"{package}.{module_name}.application"
    module, _, attribute = dotted.rpartition(".")
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:
        found = False
    return f"{module}:{attribute}" if found else None


def view_model(callback):
    """The model a class-based view reads (``model`` or ``queryset``), else the only model of the
    app that defines the view (a function view names none), else None."""
    from django.apps import apps

    view_class = getattr(callback, "view_class", None)
    queryset = getattr(view_class, "queryset", None)
    model = getattr(view_class, "model", None) or getattr(queryset, "model", None)
    if model is not None:
        return model
    app = apps.get_containing_app_config(callback.__module__)
    models = list(app.get_models()) if app is not None else []
    return models[0] if len(models) == 1 else None


def is_admin_view(callback):
    """The admin's views check the user themselves (``AdminSite.admin_view``): each is marked
    with its site or model admin, or wraps a method of one."""
    from django.apps import apps

    if not apps.is_installed("django.contrib.admin"):
        return False
    from django.contrib.admin import AdminSite, ModelAdmin

    if hasattr(callback, "admin_site") or hasattr(callback, "model_admin"):
        return True
    owner = getattr(getattr(callback, "__wrapped__", None), "__self__", None)
    return isinstance(owner, AdminSite | ModelAdmin)


def needs_login(callback, settings):
    if is_admin_view(callback):
        return True
    view_class = getattr(callback, "view_class", None)
    if view_class is not None and any(c.__name__ == "AccessMixin" for c in view_class.__mro__):
        return True
    if LOGIN_MIDDLEWARE in settings.MIDDLEWARE:
        return getattr(callback, "login_required", True)
    # user_passes_test (login_required's base) marks the view it wraps with ``login_url``.
    return hasattr(callback, "login_url")


def view_attribute(callback, name):
    """A class-based view's attribute as ``as_view(**initkwargs)`` set it, else the class's."""
    return callback.view_initkwargs.get(name, getattr(callback.view_class, name))


def redirect_status(callback):
    from django.views.generic import RedirectView

    view_class = getattr(callback, "view_class", None)
    if view_class is None or not issubclass(view_class, RedirectView):
        return None
    return 301 if view_attribute(callback, "permanent") else 302


def url_patterns(patterns, prefix=""):
    """``(pattern, entry)`` for every view of the URLconf, includes followed; the pattern as the
    metrics label it (``/articles/<int:pk>/``). A regular expression has no path to build: it is
    left to the routes file."""
    from django.urls import URLResolver
    from django.urls.resolvers import RoutePattern

    for entry in (e for e in patterns if isinstance(e.pattern, RoutePattern)):
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from url_patterns(entry.url_patterns, route)
        else:
            yield "/" + route, entry


def row_values(callback, parameters):
    """Each parameter's value from the first row (by primary key) of the view's model, where it
    came from, and why the others have none."""
    model = view_model(callback)
    row = model._default_manager.order_by("pk").first() if model is not None else None
    answer = {"values": {}, "source": {}, "error": None}
    if row is None:
        answer["error"] = f"{model._meta.label} has no rows" if model else "no model for its view"
        return answer
    fields = {f.name for f in model._meta.concrete_fields}
    for name in parameters:
        field = "pk" if name in ("pk", "id") or name == f"{model._meta.model_name}_id" else name
        if field == "pk" or field in fields:
            answer["values"][name] = str(getattr(row, field))
            answer["source"][name] = f"{model._meta.label}.{field} of its first row"
        else:
            answer["error"] = f"{model._meta.label} has no field {name!r}"
    return answer


def route_facts(pattern, entry, settings):
    """Its URL name, whether it needs a login or a CSRF token, the methods and redirect of a
    class-based view, whether it is async, and its parameters' values (``row_values``)."""
    from asgiref.sync import iscoroutinefunction

    callback = entry.callback
    login = bool(needs_login(callback, settings))
    parameters = [m["name"] for m in PARAMETER.finditer(pattern)]
    return {
        "pattern": pattern,
        "name": entry.name,
        "csrf": CSRF_MIDDLEWARE in settings.MIDDLEWARE
        and not getattr(callback, "csrf_exempt", False),
        "login": login,
        # A class-based view says which methods it answers and, for a redirect, with what.
        "methods": [m.upper() for m in view_attribute(callback, "http_method_names")]
        if hasattr(callback, "view_class")
        else None,
        "status": redirect_status(callback),
        # Django marks an async view (a function's, or as_view() of a class's) a coroutine.
        "is_async": iscoroutinefunction(callback),
        # A route that needs a login is not loaded: no row is read for it.
        "values": row_values(callback, parameters) if parameters and not login else None,
    }


def prepare(fixtures):
    """The copies afresh and migrated, ``fixtures`` (``loaddata`` names) loaded into them, the
    static files collected."""
    from django.apps import apps
    from django.conf import settings
    from django.core.management import call_command

    if fixtures and not settings.COPIES:
        sys.exit("fixtures are loaded only into a copy; the project names its own database")
    for alias, name in settings.COPIES.items():
        Path(name).unlink(missing_ok=True)
        call_command("migrate", database=alias, interactive=False, verbosity=0)
    if fixtures:
        call_command("loaddata", *fixtures, verbosity=0)
    if apps.is_installed("django.contrib.staticfiles"):
        call_command("collectstatic", interactive=False, verbosity=0)


def describe():
    from django.conf import settings
    from django.urls import get_resolver

    return {
        "asgi_application": application_path("ASGI_APPLICATION", "asgi"),
        "wsgi_application": application_path("WSGI_APPLICATION", "wsgi"),
        "copies": settings.COPIES,
        "login_url": str(settings.LOGIN_URL),
        "routes": [
            route_facts(pattern, entry, settings)
            for pattern, entry in url_patterns(get_resolver(settings.PROJECT_URLCONF).url_patterns)
        ],
    }


if __name__ == "__main__":
    import django

    django.setup()
    prepare(sys.argv[1:])
    print(json.dumps(describe()))
