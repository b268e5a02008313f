from django.urls import path

from . import views

urlpatterns = [
    path("sync/api/", views.sync_api, name="sync-api"),
    path("async/api/", views.async_api, name="async-api"),
    path("async/blocking/", views.async_blocking, name="async-blocking"),
    path("async/api_aggregated/", views.async_aggregated, name="async-aggregated"),
    # The same view under the other name the contract publishes for it.
    path("async/aggregate_sync_view/", views.async_aggregated, name="async-aggregate-sync-view"),
    path("sync/api_aggregated/", views.sync_aggregated, name="sync-aggregated"),
    path("sync/api_sequential/", views.sync_sequential, name="sync-sequential"),
    path("healthz", views.healthz, name="healthz"),
]
