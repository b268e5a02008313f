from django.apps import AppConfig


class MetricsConfig(AppConfig):
    # The package's own name, so it also serves under another top-level package: the lab
    # installs it as ``django_async_lab.metrics`` in a project it measures (whose own package
    # may be called ``mysite``).
    name = __package__
    verbose_name = "Per-view latency metrics"

    def ready(self) -> None:
        # The ASGI lifespan registry of the package this app sits in (``mysite.lifespan`` here).
        from .. import lifespan
        from . import checks, looplag, multiprocess  # noqa: F401  (checks registers itself)

        lifespan.on_startup(looplag.start)
        lifespan.on_shutdown(looplag.stop)
        lifespan.on_shutdown(_forget_this_process)


async def _forget_this_process() -> None:
    from .multiprocess import mark_this_process_dead

    mark_this_process_dead()
