from django.apps import AppConfig


class DbConfig(AppConfig):
    name = "mysite.db"
    label = "lab_db"
    verbose_name = "The database views: sync ORM, async ORM, native async backend"

    def ready(self) -> None:
        from . import checks, instrumentation  # noqa: F401  (registers checks and receivers)
