from __future__ import annotations

from django.apps import AppConfig


class BrokerConfig(AppConfig):
    name = "broker"
    verbose_name = "Broker (SQS, SNS, Lambda engine)"
