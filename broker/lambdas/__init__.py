"""AWS Lambda functions with SQS event source mappings.

Follows `shared/reference/lambda-sqs.md`. A function either runs its own Python
code (`runtime`: a worker subprocess per invocation, on when PLAYGROUND_RUN_CODE
is) or is simulated: it runs for `duration` simulated seconds (to `duration_max`,
cut at `timeout`), fails when a record's body contains `fail_when_body_contains` or
it has the attribute `fail_when_attribute`, or at random `fail_percent` % of runs,
raising or crashing (`failure`), writes each record to its `database`, and logs one
line per record from `log_template`. An invocation is a row with `started_at` and
`ends_at` in simulated time; no worker ever sleeps through a simulated duration.

The life of a batch, each step a service here and a Celery task in `tasks.py`:

1. `poll(mapping)` (`mappings`) — the Lambda poller: while the mapping is enabled,
   has spare concurrency and the queue has visible messages, it receives up to
   `batch_size` messages through `sqs.receive_messages` (the queue's visibility
   timeout hides them) and starts an `Invocation` with the exact SQS event (§3),
   logging START and the function's lines.
2. The ticker sees `ends_at <= now` and queues `finish_invocation`; for real code a
   worker runs it (`tasks.run_code`) and finishes it with its outcome, and
   `ends_at` is only the deadline at which the ticker ends a run whose worker died.
3. `finish_invocation(invocation)` (`invocations`) decides the outcome (§4): success
   deletes the whole batch with `sqs.delete_message_batch`; a function error or a
   timeout deletes nothing, so the messages reappear when their visibility timeout
   ends and the queue's redrive policy moves them to the DLQ after maxReceiveCount.
   Then END and REPORT are logged (§8).

Modules: `functions` (create and configure), `mappings` (event source mappings and
their pollers), `filtering` (their FilterCriteria), `roles` (the execution role's
SQS actions), `invocations` (the event, the run, its outcome and its log),
`runtime` and `bootstrap` (running real code).
"""

from __future__ import annotations

from broker.lambdas.functions import (
    create_function,
    delete_function,
    set_reserved_concurrency,
    update_function,
)
from broker.lambdas.invocations import (
    REQUEST_STALE_AFTER,
    claim_due_finishes,
    concurrency_cap,
    finish_invocation,
    invoke,
    log_tail,
    report_line,
)
from broker.lambdas.mappings import (
    POLL_RETRY_AFTER,
    UNCHANGED,
    claim_due_polls,
    create_event_source_mapping,
    delete_event_source_mapping,
    poll,
    update_event_source_mapping,
)

__all__ = [
    "POLL_RETRY_AFTER",
    "REQUEST_STALE_AFTER",
    "UNCHANGED",
    "claim_due_finishes",
    "claim_due_polls",
    "concurrency_cap",
    "create_event_source_mapping",
    "create_function",
    "delete_event_source_mapping",
    "delete_function",
    "finish_invocation",
    "invoke",
    "log_tail",
    "poll",
    "report_line",
    "set_reserved_concurrency",
    "update_event_source_mapping",
    "update_function",
]
