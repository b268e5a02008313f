from django.urls import include, path

urlpatterns = [
    path("", include("mysite.frontdoor.urls")),
    path("", include("mysite.demo.urls")),
    path("", include("mysite.db.urls")),
    path("", include("mysite.metrics.urls")),
]

# The errors Django answers itself are the contract's JSON, not its HTML pages: 400s (too many
# query fields, ...), an unknown path, a denied one, and a server error.
handler400 = "mysite.boundary.bad_request"
handler403 = "mysite.errors.forbidden"
handler404 = "mysite.errors.not_found"
handler500 = "mysite.errors.server_error"
