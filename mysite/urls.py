from django.urls import include, path

urlpatterns = [
    path("", include("mysite.demo.urls")),
    path("", include("mysite.db.urls")),
    path("", include("mysite.metrics.urls")),
]
