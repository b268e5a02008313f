"""What Django says about a project, printed as JSON: run by the PROJECT's Python, never the lab's.

Standalone on purpose: the project's environment has Django and the project (its directory on
the path) and nothing of the lab, so this file imports only the standard library, Django and what
the project's settings name. The lab runs its source with ``python -c`` (see ``discover.probe``).

``describe`` (under the project's own settings): the applications, the databases, the URLconf's
routes. ``values`` (under the lab's shim, on the copy): for each parameter named on stdin, the
value the first row of the view's model holds, and which model and field gave it.
"""

import importlib.util
import json
import os
import sys

CSRF_MIDDLEWARE = "django.middleware.csrf.CsrfViewMiddleware"
LOGIN_MIDDLEWARE = "django.contrib.auth.middleware.LoginRequiredMiddleware"


def application(settings, setting_name, module_name):
    """``module:attribute`` of the project's ASGI or WSGI application, or None when it has none.

    The setting when it is there (Django needs WSGI_APPLICATION only for runserver), else the
    layout ``startproject`` writes: ``<package>.wsgi`` / ``<package>.asgi``.
    """
    package = os.environ["DJANGO_SETTINGS_MODULE"].split(".")[0]
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
    if view_class is not None:
        model = getattr(view_class, "model", None)
        queryset = getattr(view_class, "queryset", None)
        if model is None and queryset is not None:
            model = queryset.model
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


def url_patterns(patterns, prefix="", converters=None):
    """``(pattern, entry, converters)`` for every view of the URLconf, includes followed; the
    pattern as the metrics label it (``/articles/<int:pk>/``), None for a regular expression
    (it has no path to build: left to the routes file)."""
    from django.urls import URLResolver
    from django.urls.converters import get_converters
    from django.urls.resolvers import RoutePattern

    names = {type(converter): name for name, converter in get_converters().items()}
    for entry in patterns:
        if not isinstance(entry.pattern, RoutePattern):
            yield None, entry, {}
            continue
        route = prefix + str(entry.pattern)
        found = {
            **(converters or {}),
            **{
                name: names.get(type(c), type(c).__name__)
                for name, c in entry.pattern.converters.items()
            },
        }
        if isinstance(entry, URLResolver):
            yield from url_patterns(entry.url_patterns, route, found)
        else:
            yield "/" + route, entry, found


def is_async_view(callback):
    from asgiref.sync import iscoroutinefunction

    return iscoroutinefunction(callback)


def route_facts(pattern, entry, converters, settings):
    if pattern is None:
        return {"pattern": None, "regex": str(entry.pattern), "name": getattr(entry, "name", None)}
    callback = entry.callback
    return {
        "pattern": pattern,
        "name": entry.name,
        "parameters": converters,
        "csrf": CSRF_MIDDLEWARE in settings.MIDDLEWARE
        and not getattr(callback, "csrf_exempt", False),
        "login": bool(needs_login(callback, settings)),
        # A class-based view says which methods it answers and, for a redirect, with what.
        "methods": [m.upper() for m in view_attribute(callback, "http_method_names")]
        if hasattr(callback, "view_class")
        else None,
        "status": redirect_status(callback),
        # Django marks an async view (a function's, or as_view() of a class's) a coroutine.
        "is_async": is_async_view(callback),
    }


def describe():
    from django.apps import apps
    from django.conf import settings
    from django.urls import get_resolver

    return {
        "root_urlconf": settings.ROOT_URLCONF,
        "asgi_application": application(settings, "ASGI_APPLICATION", "asgi"),
        "wsgi_application": application(settings, "WSGI_APPLICATION", "wsgi"),
        "databases": {alias: db["ENGINE"] for alias, db in settings.DATABASES.items()},
        "login_url": str(settings.LOGIN_URL),
        "staticfiles": apps.is_installed("django.contrib.staticfiles"),
        "routes": [
            route_facts(*found, settings) for found in url_patterns(get_resolver().url_patterns)
        ],
    }


def values(wanted):
    """``wanted``: ``[{"pattern", "parameters": [name, ...]}]``; per pattern, each parameter's
    value from the first row (by primary key) of the view's model, or why there is none."""
    from django.urls import get_resolver

    callbacks = {
        pattern: entry.callback
        for pattern, entry, _ in url_patterns(get_resolver().url_patterns)
        if pattern is not None
    }
    answers = {}
    for item in wanted:
        callback = callbacks.get(item["pattern"])
        model = view_model(callback) if callback is not None else None
        if model is None:
            answers[item["pattern"]] = {"error": "no model found for its view"}
            continue
        row = model._default_manager.order_by("pk").first()
        if row is None:
            answers[item["pattern"]] = {"error": f"{model._meta.label} has no rows"}
            continue
        found, source = {}, {}
        for name in item["parameters"]:
            field = "pk" if name in ("pk", "id") or name == f"{model._meta.model_name}_id" else name
            if field != "pk" and field not in {f.name for f in model._meta.concrete_fields}:
                answers[item["pattern"]] = {"error": f"{model._meta.label} has no field {name!r}"}
                break
            found[name] = str(getattr(row, field))
            source[name] = f"{model._meta.label}.{field} of its first row"
        else:
            answers[item["pattern"]] = {"values": found, "source": source}
    return answers


if __name__ == "__main__":
    import django

    django.setup()
    mode = sys.argv[1]
    answer = describe() if mode == "describe" else values(json.load(sys.stdin))
    # The last line: whatever the project's own modules print on import comes before it.
    print(json.dumps(answer))
