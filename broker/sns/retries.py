"""How SNS retries a delivery that failed on the endpoint's side (sns.md §7).

A retry policy has four phases: retries with no delay, retries `minDelayTarget` apart,
a backoff from `minDelayTarget` to `maxDelayTarget`, and retries `maxDelayTarget`
apart; `numRetries` counts them all. SQS and Lambda endpoints get AWS's managed
policy (100,015 attempts over 23 days), email and SMS the customer-managed one (50
attempts over about 6 hours), and HTTP/S endpoints the `healthyRetryPolicy` of their
DeliveryPolicy: the subscription's, else the topic's `http.defaultHealthyRetryPolicy`,
else three retries 20 s apart.

AWS does not publish its backoff curves, so these are a documented reading: linear
spaces the delays evenly, arithmetic grows them with the square, geometric with the
cube, and exponential multiplies them by the same factor at each step. SNS adds jitter
to its delays; the playground does not, so that a lesson's run can be replayed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from broker.models import Subscription, Topic

BACKOFF_FUNCTIONS = ("linear", "arithmetic", "geometric", "exponential")
MAX_DELAY = 3600  # seconds: maxDelayTarget, and the policy's whole retry time
MAX_RETRIES = 100
HTTP_TIMEOUT = 15.0  # seconds an HTTP endpoint has to answer before the attempt fails


@dataclass(frozen=True)
class Policy:
    num_retries: int
    no_delay: int = 0
    min_delay_retries: int = 0
    max_delay_retries: int = 0
    min_delay: float = 20
    max_delay: float = 20
    backoff: str = "linear"

    @property
    def attempts(self) -> int:
        return self.num_retries + 1

    @property
    def backoff_retries(self) -> int:
        return max(
            0, self.num_retries - self.no_delay - self.min_delay_retries - self.max_delay_retries
        )

    def delay_before(self, retry: int) -> float | None:
        """Seconds between the failed attempt and retry number `retry` (1 is the first
        retry); None once the policy has no retry left."""
        if retry < 1 or retry > self.num_retries:
            return None
        if retry <= self.no_delay:
            return 0.0
        retry -= self.no_delay
        if retry <= self.min_delay_retries:
            return float(self.min_delay)
        retry -= self.min_delay_retries
        steps = self.backoff_retries
        if retry <= steps:
            share = (retry - 1) / (steps - 1) if steps > 1 else 0.0
            return _curve(self.backoff, share, self.min_delay, self.max_delay)
        return float(self.max_delay)

    def as_json(self) -> dict:
        return {
            "minDelayTarget": self.min_delay,
            "maxDelayTarget": self.max_delay,
            "numRetries": self.num_retries,
            "numMaxDelayRetries": self.max_delay_retries,
            "numNoDelayRetries": self.no_delay,
            "numMinDelayRetries": self.min_delay_retries,
            "backoffFunction": self.backoff,
        }


def _curve(backoff: str, share: float, low: float, high: float) -> float:
    if backoff == "exponential" and low > 0:
        return round(low * (high / low) ** share, 3)
    power = {"linear": 1, "arithmetic": 2, "geometric": 3}.get(backoff, 1)
    return round(low + (high - low) * share**power, 3)


# sns.md §7.2: the first attempt is the first of the managed policy's three immediate ones.
AWS_MANAGED = Policy(
    num_retries=100_014,
    no_delay=2,
    min_delay_retries=2,
    max_delay_retries=100_000,
    min_delay=1,
    max_delay=20,
    backoff="exponential",
)
CUSTOMER_MANAGED = Policy(
    num_retries=49,
    min_delay_retries=2,
    max_delay_retries=37,
    min_delay=10,
    max_delay=600,
    backoff="exponential",
)
HTTP_DEFAULT = Policy(num_retries=3)
HTTP_PROTOCOLS = ("http", "https")


class PolicyError(ValueError):
    """A DeliveryPolicy SNS refuses; the text says which field and why."""


def _whole(document: dict, name: str, default: int, low: int, high: int) -> int:
    value = document.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise PolicyError(f"{name} must be a whole number")
    if not low <= value <= high:
        raise PolicyError(f"{name} must be between {low} and {high}, not {int(value)}")
    return int(value)


def parse_retry_policy(document) -> Policy:
    """A healthyRetryPolicy (or a topic's defaultHealthyRetryPolicy) as a Policy."""
    if not isinstance(document, dict):
        raise PolicyError("healthyRetryPolicy must be a JSON object")
    unknown = sorted(set(document) - set(HTTP_DEFAULT.as_json()))
    if unknown:
        raise PolicyError(f"healthyRetryPolicy has an unknown field: {unknown[0][:40]}")
    min_delay = _whole(document, "minDelayTarget", 20, 1, MAX_DELAY)
    max_delay = _whole(document, "maxDelayTarget", 20, 1, MAX_DELAY)
    if min_delay > max_delay:
        raise PolicyError("minDelayTarget must not be greater than maxDelayTarget")
    num_retries = _whole(document, "numRetries", 3, 0, MAX_RETRIES)
    phases = {
        name: _whole(document, name, 0, 0, MAX_RETRIES)
        for name in ("numNoDelayRetries", "numMinDelayRetries", "numMaxDelayRetries")
    }
    if sum(phases.values()) > num_retries:
        raise PolicyError(
            "numNoDelayRetries, numMinDelayRetries and numMaxDelayRetries add up to more "
            "than numRetries"
        )
    backoff = document.get("backoffFunction", "linear")
    if backoff not in BACKOFF_FUNCTIONS:
        raise PolicyError(
            f"backoffFunction must be one of {', '.join(BACKOFF_FUNCTIONS)}, not {str(backoff)[:40]}"
        )
    policy = Policy(
        num_retries=num_retries,
        no_delay=phases["numNoDelayRetries"],
        min_delay_retries=phases["numMinDelayRetries"],
        max_delay_retries=phases["numMaxDelayRetries"],
        min_delay=min_delay,
        max_delay=max_delay,
        backoff=backoff,
    )
    total = sum(policy.delay_before(n) for n in range(1, num_retries + 1))
    if total > MAX_DELAY:
        raise PolicyError(
            f"the retries would take {total:g} seconds in all; at most {MAX_DELAY} are allowed"
        )
    return policy


def _throttle(document) -> None:
    if document is None:
        return
    if not isinstance(document, dict):
        raise PolicyError("throttlePolicy must be a JSON object")
    if "maxReceivesPerSecond" in document:
        _whole(document, "maxReceivesPerSecond", 1, 1, 10**6)


def check_subscription_policy(text: str) -> dict:
    """A subscription's DeliveryPolicy, checked; PolicyError says what is wrong."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise PolicyError("failed to parse JSON") from None
    if not isinstance(document, dict):
        raise PolicyError("must be a JSON object")
    if document.get("healthyRetryPolicy") is not None:
        parse_retry_policy(document["healthyRetryPolicy"])
    _throttle(document.get("throttlePolicy"))
    request = document.get("requestPolicy")
    if request is not None and not (
        isinstance(request, dict) and isinstance(request.get("headerContentType", ""), str)
    ):
        raise PolicyError("requestPolicy.headerContentType must be a string")
    return document


def check_topic_policy(text: str) -> dict:
    """A topic's DeliveryPolicy (`{"http": {"defaultHealthyRetryPolicy": …}}`), checked."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise PolicyError("failed to parse JSON") from None
    http = document.get("http") if isinstance(document, dict) else None
    if http is None:
        return document
    if not isinstance(http, dict):
        raise PolicyError("http must be a JSON object")
    if http.get("defaultHealthyRetryPolicy") is not None:
        parse_retry_policy(http["defaultHealthyRetryPolicy"])
    _throttle(http.get("defaultThrottlePolicy"))
    return document


def _document(text: str | None) -> dict:
    try:
        document = json.loads(text) if text else {}
    except (ValueError, RecursionError):
        return {}
    return document if isinstance(document, dict) else {}


def _http_documents(subscription: Subscription) -> tuple[dict, dict]:
    """(the subscription's DeliveryPolicy, the topic's `http` part) as JSON objects."""
    topic: Topic = subscription.topic
    own = _document(subscription.attributes.get("DeliveryPolicy"))
    http = _document(topic.attributes.get("DeliveryPolicy")).get("http") or {}
    if http.get("disableSubscriptionOverrides"):
        own = {}
    return own, http if isinstance(http, dict) else {}


def policy_for(subscription: Subscription) -> Policy:
    """The retry policy SNS applies to this subscription's failed deliveries."""
    if subscription.protocol in ("sqs", "lambda", "firehose"):
        return AWS_MANAGED
    if subscription.protocol not in HTTP_PROTOCOLS:
        return CUSTOMER_MANAGED
    own, http = _http_documents(subscription)
    document = own.get("healthyRetryPolicy") or http.get("defaultHealthyRetryPolicy")
    try:
        return parse_retry_policy(document) if document else HTTP_DEFAULT
    except PolicyError:  # checked when it was set; a policy changed since counts as none
        return HTTP_DEFAULT


def max_receives_per_second(subscription: Subscription) -> int | None:
    """An HTTP/S subscription's throttle (deliveries a second), None when unthrottled."""
    if subscription.protocol not in HTTP_PROTOCOLS:
        return None
    own, http = _http_documents(subscription)
    throttle = own.get("throttlePolicy") or http.get("defaultThrottlePolicy") or {}
    rate = throttle.get("maxReceivesPerSecond") if isinstance(throttle, dict) else None
    return int(rate) if isinstance(rate, int | float) and rate >= 1 else None


def content_type(subscription: Subscription) -> str:
    own, http = _http_documents(subscription)
    request = own.get("requestPolicy") or http.get("defaultRequestPolicy") or {}
    value = request.get("headerContentType") if isinstance(request, dict) else None
    return value if isinstance(value, str) and value else "text/plain; charset=UTF-8"


def effective_policy(subscription: Subscription) -> str:
    """The EffectiveDeliveryPolicy an HTTP/S subscription reports (sns.md §7.3)."""
    rate = max_receives_per_second(subscription)
    return json.dumps(
        {
            "healthyRetryPolicy": policy_for(subscription).as_json(),
            "sicklyRetryPolicy": None,
            "throttlePolicy": {"maxReceivesPerSecond": rate} if rate else None,
            "requestPolicy": {"headerContentType": content_type(subscription)},
            "guaranteed": False,
        },
        separators=(",", ":"),
    )
