from django.urls import path

from . import views

urlpatterns = [
    path("", views.article_list, name="article-list"),
    path("articles/<int:pk>/", views.article_detail, name="article-detail"),
    path("articles/new/", views.article_new, name="article-new"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
