from django.urls import path

from . import views

urlpatterns = [
    path("sync/db/", views.sync_db, name="sync-db"),
    path("async/db/", views.async_db, name="async-db"),
    path("async/db_native/", views.async_db_native, name="async-db-native"),
]
