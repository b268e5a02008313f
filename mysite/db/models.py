from django.db import models
from django_async_backend.db.models.base import AsyncModelMixin


class Item(AsyncModelMixin, models.Model):
    """A row of the seeded table the database views read (``async_objects`` is the native
    path's manager, from django-async-backend)."""

    name = models.CharField(max_length=40)
    value = models.IntegerField()

    class Meta:
        db_table = "lab_item"

    def __str__(self) -> str:
        return self.name
