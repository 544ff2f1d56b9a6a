"""Celery tasks: the Lambda service's steps, run by real workers.

Each task loads its subject by id and calls the service in `broker/lambdas/`
with the workspace clock; the logic and the idempotency live there (a finished
invocation is a no-op). The ticker (`broker/ticker.py`) queues them with
`delay_on_commit` when simulated time makes them due: no countdown or eta ever
stands for simulated time.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True)
def poll_mapping(mapping_id: int) -> None:
    """Receive batches for one event source mapping and start their invocations."""
    from broker import clock, lambdas
    from broker.models import EventSourceMapping

    mapping = EventSourceMapping.objects.select_related("workspace").filter(pk=mapping_id).first()
    if mapping is not None:
        lambdas.poll(mapping, clock=clock.for_workspace(mapping.workspace))


@shared_task(ignore_result=True, acks_late=True)
def run_producer(producer_id: int) -> None:
    """Make a producer's requests that are due (one transaction: a rerun is harmless)."""
    from broker import clock
    from broker.models import Producer
    from broker.pipeline import producers

    producer = Producer.objects.select_related("workspace").filter(pk=producer_id).first()
    if producer is not None:
        producers.produce(producer.pk, clock=clock.for_workspace(producer.workspace))


@shared_task(ignore_result=True, acks_late=True)
def finish_invocation(invocation_id: int) -> None:
    """Decide an invocation's outcome, delete its batch on success, log END/REPORT."""
    from broker import clock, lambdas
    from broker.models import Invocation

    invocation = Invocation.objects.select_related("workspace").filter(pk=invocation_id).first()
    if invocation is not None:
        lambdas.finish_invocation(invocation, clock=clock.for_workspace(invocation.workspace))


# At most once: a worker that dies mid-run does not run the handler again when the
# message is redelivered; the ticker ends the invocation at its deadline instead.
@shared_task(ignore_result=True, acks_late=False)
def run_code(invocation_id: int) -> None:
    """Run a function's own code for one invocation, then finish it with the outcome."""
    from broker import clock, lambdas
    from broker.lambdas import runtime
    from broker.models import Invocation

    invocation = (
        Invocation.objects.select_related("workspace", "function__workspace")
        .filter(pk=invocation_id, status=Invocation.Status.RUNNING)
        .first()
    )
    if invocation is None:
        return
    outcome = runtime.run(invocation)
    # Read it again: its trigger, queue or function may be gone by now, its clock changed.
    invocation = (
        Invocation.objects.select_related("workspace", "function", "mapping", "queue")
        .filter(pk=invocation_id)
        .first()
    )
    if invocation is not None:
        lambdas.finish_invocation(
            invocation, clock=clock.for_workspace(invocation.workspace), outcome=outcome
        )


@shared_task(ignore_result=True, acks_late=True)
def attempt_delivery(delivery_id: int) -> None:
    """Retry one SNS delivery whose time has come (sns.md §7)."""
    from broker import clock
    from broker.sns import deliveries

    deliveries.attempt(delivery_id, clock_for=clock.for_workspace)


@shared_task(ignore_result=True)
def post_notice(url: str, headers: dict, body: str) -> None:
    """POST a one-off SNS notice (an UnsubscribeConfirmation) to a real HTTP endpoint."""
    from broker.sns import deliveries

    deliveries.post_request(url, headers, body)
