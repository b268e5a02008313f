from django.urls import path

from . import views
from .catalogue import FRONT_DOOR

urlpatterns = [path("", views.front_door, name=FRONT_DOOR)]
