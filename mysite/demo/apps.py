from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "mysite.demo"
    verbose_name = "Sync and async views under test"

    def ready(self) -> None:
        from mysite import lifespan

        from . import checks, upstream  # noqa: F401  (registers the system checks)

        lifespan.on_startup(upstream.adopt_serving_loop)
        lifespan.on_shutdown(upstream.close_clients)
