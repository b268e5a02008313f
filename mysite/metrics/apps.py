from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "mysite.metrics"
    verbose_name = "Per-view latency metrics"

    def ready(self) -> None:
        from mysite import lifespan

        from . import checks, looplag, multiprocess  # noqa: F401  (checks registers itself)

        lifespan.on_startup(looplag.start)
        lifespan.on_shutdown(looplag.stop)
        lifespan.on_shutdown(_forget_this_process)


async def _forget_this_process() -> None:
    from .multiprocess import mark_this_process_dead

    mark_this_process_dead()
