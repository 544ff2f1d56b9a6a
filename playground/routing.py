from __future__ import annotations

from django.urls import path

from playground.consumers import WorkspaceConsumer

websocket_urlpatterns: list = [
    path("ws/w/<str:slug>/", WorkspaceConsumer.as_asgi()),
]
