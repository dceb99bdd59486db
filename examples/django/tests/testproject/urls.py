from django.urls import path

from . import views

urlpatterns = [
    path("api/balance", views.balance),
    path("api/reserve", views.reserve),
    path("api/campaigns/launch", views.launch_campaign),
    path("api/protus/webhook", views.protus_webhook),
]
