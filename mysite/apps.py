from django.apps import AppConfig


class SiteConfig(AppConfig):
    """The project's own pieces that belong to no app: the async-native security middleware."""

    name = "mysite"

    def ready(self) -> None:
        from . import security  # noqa: F401  (registers its deploy check)
