from django.urls import include, path

urlpatterns = [
    path("", include("mysite.frontdoor.urls")),
    path("", include("mysite.demo.urls")),
    path("", include("mysite.db.urls")),
    path("", include("mysite.metrics.urls")),
]

# Django's own 400s (too many query fields, ...) answer in the contract's JSON.
handler400 = "mysite.boundary.bad_request"
