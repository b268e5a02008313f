from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.urls import path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path("", views.article_list, name="article-list"),
    path("articles/<int:pk>/", views.article_detail, name="article-detail"),
    path("articles/new/", views.article_new, name="article-new"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("home/", RedirectView.as_view(pattern_name="article-list", permanent=True), name="home"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
