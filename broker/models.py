"""The broker's data: workspaces, queues, messages, functions and the event log.

Models hold data, constraints and trivial derived properties only; every decision
about them lives in the service modules (`broker/sqs/`, `broker/lambdas/`, `broker/kms/`, `clock.py`).
Times that belong to the simulation are floats of *simulated* epoch seconds
(see `broker/clock.py`); `created` columns are wall-clock bookkeeping.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from broker import arns


class Workspace(models.Model):
    """One account's resources in one region: regions are separate namespaces, as on
    AWS, so an account has a workspace per region it has used (`broker/workspaces.py`).
    A browser's account shares its access key across its regions."""

    slug = models.CharField(max_length=32, unique=True)
    account_id = models.CharField(max_length=12)
    region = models.CharField(max_length=32, default="us-east-1")
    access_key_id = models.CharField(max_length=128)
    secret_access_key = models.CharField(max_length=128)
    # Created through the local-emulator convention (secret "test"): reachable by
    # anyone who may use that convention, i.e. only while it is switched on.
    local_convention = models.BooleanField(default=False)
    # The simulated clock: sim_now = sim_anchor + (wall_now - real_anchor) * speed.
    speed = models.FloatField(default=1.0)
    paused = models.BooleanField(default=False)
    sim_anchor = models.FloatField()
    real_anchor = models.FloatField()
    # KMS's shared quota of cryptographic requests per wall second (Decrypt,
    # GenerateDataKey, ...); AWS's default, which a teacher may lower to show KmsThrottled.
    kms_request_quota = models.PositiveIntegerField(default=5500)
    # Whether the account is subscribed to AWS KMS. Off, every KMS request fails with
    # OptInRequired (SQS: KmsOptInRequired): the one way to show that error code.
    kms_opted_in = models.BooleanField(default=True)
    # AWS's strict rules, or the relaxed ones of local emulators (settings.py).
    aws_strict = models.BooleanField(default=True)
    # SNS's account-wide SMS settings (SetSMSAttributes), as SNS answers them: strings.
    sms_attributes = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    # Wall time of the last page, form, socket or API call that reached it, to the
    # nearest `workspaces.MARK_USED_EVERY`: a workspace nobody uses expires.
    last_used = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account_id", "region"], name="one_workspace_per_region"
            ),
            models.UniqueConstraint(fields=["access_key_id", "region"], name="one_key_per_region"),
        ]

    def __str__(self) -> str:
        return f"workspace {self.account_id} {self.region}"


class Queue(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="queues")
    name = models.CharField(max_length=80)
    visibility_timeout = models.PositiveIntegerField(default=30)
    delay_seconds = models.PositiveIntegerField(default=0)
    message_retention_period = models.PositiveIntegerField(default=345600)
    maximum_message_size = models.PositiveIntegerField(default=1048576)
    receive_wait_time_seconds = models.PositiveIntegerField(default=0)
    # RedrivePolicy, kept as its two parts; the DLQ is resolved by ARN at use.
    dead_letter_target_arn = models.CharField(max_length=256, blank=True)
    max_receive_count = models.PositiveIntegerField(null=True, blank=True)
    redrive_allow_policy = models.TextField(blank=True)
    policy = models.TextField(blank=True)
    sqs_managed_sse = models.BooleanField(default=True)
    # SSE-KMS: the key as the attribute names it (id, ARN or alias); "" is none.
    kms_master_key_id = models.CharField(max_length=256, blank=True)
    kms_data_key_reuse_period = models.PositiveIntegerField(default=300)
    # FIFO only (a FIFO queue is one whose name ends in .fifo).
    content_based_deduplication = models.BooleanField(default=False)
    deduplication_scope = models.CharField(max_length=16, default="queue")
    fifo_throughput_limit = models.CharField(max_length=24, default="perQueue")
    tags = models.JSONField(default=dict, blank=True)
    created_at = models.FloatField()
    modified_at = models.FloatField()
    last_purged_at = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="queue_name_unique"),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_fifo(self) -> bool:
        return self.name.endswith(".fifo")

    @property
    def arn(self) -> str:
        return arns.queue(self.workspace, self.name)

    @property
    def has_redrive_policy(self) -> bool:
        return bool(self.dead_letter_target_arn)


class Topic(models.Model):
    """An SNS topic. Its settable attributes are kept as SNS answers them: strings, the
    JSON-valued ones (Policy, DeliveryPolicy) as JSON text."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="topics")
    name = models.CharField(max_length=256)
    attributes = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    created_at = models.FloatField()
    sequence = models.BigIntegerField(default=0)  # FIFO: the last SequenceNumber given

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="topic_name_unique"),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_fifo(self) -> bool:
        return self.name.endswith(".fifo")

    @property
    def arn(self) -> str:
        return arns.topic(self.workspace, self.name)


class Subscription(models.Model):
    """An SNS subscription: a topic's endpoint of one protocol, and its settable
    attributes as SNS answers them (strings)."""

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="subscriptions")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True)
    protocol = models.CharField(max_length=16)
    endpoint = models.CharField(max_length=2048)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.FloatField()
    # http/https/email/email-json start pending until the endpoint's owner confirms
    # with the token sent to it (sns.md §2.2); nothing is delivered before that.
    confirmed = models.BooleanField(default=True)
    token = models.CharField(max_length=128, blank=True)
    token_expires_at = models.FloatField(null=True, blank=True)
    confirmation_authenticated = models.BooleanField(default=True)
    authenticate_on_unsubscribe = models.BooleanField(default=False)
    # An HTTP/S throttlePolicy's next free delivery slot (simulated epoch seconds).
    throttled_until = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["topic", "protocol", "endpoint"], name="subscription_unique"
            ),
        ]
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.protocol}:{self.endpoint}"

    @property
    def arn(self) -> str:
        return f"{self.topic.arn}:{self.uuid}"


class Delivery(models.Model):
    """A notification SNS still has to hand to one subscription (sns.md §7): a retry
    waiting for its time, or a request to an HTTP endpoint. A delivery that succeeds at
    once leaves no row, and a row is deleted once its notification is delivered, sent
    to the subscription's dead-letter queue or discarded: the events tell the story."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    message_id = models.CharField(max_length=100)
    # What to deliver: the published message as `sns.deliveries.Notification` stores it.
    payload = models.JSONField(default=dict)
    attempts = models.PositiveIntegerField(default=0)  # made so far
    next_at = models.FloatField(help_text="Simulated epoch seconds of the next attempt.")
    last_error = models.TextField(blank=True)
    # Ticker bookkeeping (wall epoch seconds): an attempt task is queued.
    requested_at = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = [
            # The ticker lists workspaces with deliveries, then each one's due ones.
            models.Index(fields=["workspace", "next_at"], name="delivery_due"),
        ]
        ordering = ["next_at", "pk"]

    def __str__(self) -> str:
        return f"{self.message_id} → {self.subscription_id}"


class Inbox(models.Model):
    """An endpoint built into the workspace that SNS delivers to: an HTTP/S request
    inbox (its URL is `/_aws/inbox/<account>/<name>`), an email address or a phone
    number. The learner decides how an HTTP inbox answers, to watch retries."""

    class Kind(models.TextChoices):
        HTTP = "http"
        EMAIL = "email"
        SMS = "sms"

    class Mode(models.TextChoices):
        OK = "ok", "Answer 200"
        ERROR = "error", "Answer 500"
        TIMEOUT = "timeout", "Time out"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="inboxes")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    address = models.CharField(max_length=320)  # the inbox name, email address or number
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.OK)
    opted_out = models.BooleanField(default=False)  # SMS: the number replied STOP

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "kind", "address"], name="inbox_address_unique"
            ),
        ]
        ordering = ["kind", "address"]

    def __str__(self) -> str:
        return f"{self.kind}:{self.address}"


class InboxMessage(models.Model):
    """One request, email or text an inbox received, as it arrived."""

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="messages")
    at = models.FloatField(help_text="Simulated epoch seconds.")
    message_type = models.CharField(max_length=32)  # Notification, SubscriptionConfirmation…
    message_id = models.CharField(max_length=100, blank=True)
    subject = models.CharField(max_length=256, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    body = models.TextField()
    status = models.PositiveIntegerField(null=True, blank=True)  # HTTP: what it answered

    class Meta:
        indexes = [models.Index(fields=["inbox", "-at"], name="inbox_message_recent")]
        ordering = ["-at", "-pk"]


class TopicDeduplication(models.Model):
    """A FIFO topic's deduplication id seen in the last 5 minutes (sns.md §6): a publish
    with it is accepted and answered with the first message's id, but not delivered."""

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="deduplications")
    deduplication_id = models.CharField(max_length=128)
    message_id = models.CharField(max_length=100)
    sequence_number = models.CharField(max_length=40)
    expires_at = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["topic", "deduplication_id"], name="topic_deduplication_unique"
            ),
        ]
        indexes = [models.Index(fields=["expires_at"], name="topic_deduplication_expiry")]


class SigningCertificate(models.Model):
    """The key and self-signed certificate a workspace's SNS messages are signed with: the
    certificate is served at the envelopes' SigningCertURL, as AWS serves its own."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="signing_certificate"
    )
    name = models.CharField(max_length=64)  # SimpleNotificationService-<hex>.pem
    private_key = models.TextField()  # PEM, sealed under the server's key (kms.keys.seal_text)
    certificate = models.TextField()  # PEM


class MessageQuerySet(models.QuerySet):
    def visible_at(self, now: float) -> MessageQuerySet:
        return self.filter(visible_at__lte=now)

    def hidden_at(self, now: float) -> MessageQuerySet:
        return self.filter(visible_at__gt=now)


class Message(models.Model):
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="messages")
    message_id = models.CharField(max_length=100, db_index=True)
    body = models.TextField()
    attributes = models.JSONField(default=dict, blank=True)
    system_attributes = models.JSONField(default=dict, blank=True)
    md5_of_body = models.CharField(max_length=32)
    md5_of_attributes = models.CharField(max_length=32, blank=True)
    sender_id = models.CharField(max_length=128, blank=True)
    sent_at = models.FloatField()
    # One instant covers delay and visibility: the message can be received at or
    # after visible_at. In flight = received at least once and visible_at ahead.
    visible_at = models.FloatField()
    receive_count = models.PositiveIntegerField(default=0)
    first_received_at = models.FloatField(null=True, blank=True)
    received_at = models.FloatField(null=True, blank=True)
    receipt_nonce = models.CharField(max_length=32, blank=True)
    # MessageGroupId (FIFO, or a fair standard queue) and the FIFO deduplication id.
    # On a FIFO queue the pk is the SequenceNumber's source: it orders a group.
    group_id = models.CharField(max_length=128, blank=True)
    deduplication_id = models.CharField(max_length=128, blank=True)
    # Server-side encryption at rest: body and attributes as AES-GCM ciphertext
    # (then `body` is "" and `attributes` {}), and the data key wrapped by its KMS key.
    sealed = models.TextField(blank=True)
    sealed_key = models.TextField(blank=True)
    # Bookkeeping for the ticker: the message is hidden (delayed or in flight)
    # and its return to visibility has not been announced as an event yet.
    hidden = models.BooleanField(default=False)

    objects = MessageQuerySet.as_manager()

    class Meta:
        indexes = [
            # Exactly the receive order (visible_at, then pk): a receive reads the first
            # rows of its queue's range and stops, however many messages share an instant.
            models.Index(fields=["queue", "visible_at", "id"], name="message_queue_visible_id"),
            models.Index(
                fields=["visible_at"], name="message_hidden_due", condition=Q(hidden=True)
            ),
            # A queue's hidden messages whose time has come but whose return the ticker
            # has not announced yet: the correction `sqs.counts` applies to the tally.
            models.Index(
                fields=["queue", "visible_at"],
                name="message_queue_hidden",
                condition=Q(hidden=True),
            ),
            # A FIFO group's messages in order: its head and in-flight prefix.
            models.Index(fields=["queue", "group_id", "id"], name="message_group_order"),
            # Retention: the oldest messages of a queue first.
            models.Index(fields=["queue", "sent_at"], name="message_queue_sent"),
        ]

    def __str__(self) -> str:
        return self.message_id


class QueueTally(models.Model):
    """A change to a queue's message counts; the counts are the sum of its rows.

    Every write that adds, removes, hides or shows messages inserts one row (no
    row is ever updated in place, so concurrent writers never wait on each
    other), and the ticker folds a queue's rows into one about once a wall
    second. Reading the counts sums a handful of rows, with ten messages in the
    queue or a million. See `broker/sqs/tally.py`.
    """

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="tallies")
    messages = models.IntegerField(default=0)
    held = models.IntegerField(default=0)  # hidden after a receive: in flight until announced
    delayed = models.IntegerField(default=0)  # hidden, never received

    def __str__(self) -> str:
        return f"{self.queue_id}: {self.messages:+} messages"


class MessageGroup(models.Model):
    """A FIFO queue's message group that holds messages, and when it can next be read.

    `ready_at` is when the group's head message may be received: the later of the
    head's own `visible_at` and the end of the group's in-flight batch. Receivers
    pick groups with `ready_at <= now`, so a blocked group costs nothing however
    many messages wait behind its head. The row is deleted when the group empties.
    """

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="groups")
    group_id = models.CharField(max_length=128)
    ready_at = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "group_id"], name="group_unique"),
        ]
        indexes = [models.Index(fields=["queue", "ready_at"], name="group_queue_ready")]

    def __str__(self) -> str:
        return self.group_id


class Deduplication(models.Model):
    """A FIFO deduplication id seen in the last 5 minutes (sqs.md §4.4).

    Kept apart from the message: a deleted message still deduplicates. `scope` is
    the group id under DeduplicationScope=messageGroup, else "".
    """

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="deduplications")
    scope = models.CharField(max_length=128, blank=True)
    deduplication_id = models.CharField(max_length=128)
    message_id = models.CharField(max_length=100)
    sequence_number = models.CharField(max_length=40)
    expires_at = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["queue", "scope", "deduplication_id"], name="deduplication_unique"
            ),
        ]
        indexes = [models.Index(fields=["expires_at"], name="deduplication_expiry")]


class ReceiveAttempt(models.Model):
    """A FIFO ReceiveRequestAttemptId and the batch it returned, for 5 minutes."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="receive_attempts")
    attempt_id = models.CharField(max_length=128)
    nonce = models.CharField(max_length=32)
    message_pks = models.JSONField(default=list)
    expires_at = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "attempt_id"], name="receive_attempt_unique"),
        ]
        indexes = [models.Index(fields=["expires_at"], name="receive_attempt_expiry")]


class Function(models.Model):
    """A simulated Lambda function: what it does is described, not executed."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="functions")
    name = models.CharField(max_length=64)
    duration = models.FloatField(default=1.0, help_text="Simulated seconds per invocation.")
    timeout = models.PositiveIntegerField(default=3)
    memory_size = models.PositiveIntegerField(default=128)
    fail_when_body_contains = models.CharField(max_length=256, blank=True)
    # More of the simulated code: a run lasts from `duration` to `duration_max`; a
    # record whose attribute `name=value` matches fails as a body match does; a run
    # fails at random `fail_percent` % of the time; and a failure raises or (crash)
    # ends the process. Each draw is seeded by the request id: a rerun is the same.
    duration_max = models.FloatField(null=True, blank=True)
    fail_when_attribute = models.CharField(max_length=512, blank=True)
    fail_percent = models.PositiveSmallIntegerField(default=0)
    failure = models.CharField(max_length=16, default="exception")
    # What the simulated code does with records that fail: False raises (the whole
    # batch fails), True returns them as batchItemFailures (lambda-sqs.md §4.1).
    report_failed_records = models.BooleanField(default=False)
    log_template = models.CharField(max_length=512, default="Processing message: {body}")
    # What the Lambda API knows of it (lambda-sqs.md §9); the code is kept as uploaded.
    runtime = models.CharField(max_length=32, default="python3.12")
    handler = models.CharField(max_length=128, default="index.handler")
    role = models.CharField(max_length=256, blank=True)
    description = models.CharField(max_length=256, blank=True)
    environment = models.JSONField(default=dict, blank=True)
    code = models.BinaryField(default=b"", blank=True)
    code_sha256 = models.CharField(max_length=64, blank=True)
    # The SQS actions its execution role allows (["sqs:ReceiveMessage", …]); None
    # stands for a role that allows them all. Enforced under AWS's strict rules.
    role_actions = models.JSONField(null=True, blank=True)
    # None: unreserved, it shares the account's pool; 0 throttles every invocation.
    reserved_concurrency = models.PositiveIntegerField(null=True, blank=True)
    # The workspace database (by name) the simulated code writes each record to.
    database = models.CharField(max_length=64, blank=True)
    # Records handed to it again by a trigger, and of those the ones it had already
    # processed once (their batch failed, or their delete did): the seed's "4 of 6".
    records_again = models.PositiveBigIntegerField(default=0)
    records_redone = models.PositiveBigIntegerField(default=0)
    modified_at = models.FloatField(default=0.0, help_text="Simulated epoch seconds.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="function_name_unique"),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def arn(self) -> str:
        return arns.function(self.workspace, self.name)


class Database(models.Model):
    """A database outside AWS that functions write to: its capacity, its latency, and
    whether it is up (the seed's "database down for five minutes")."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="databases")
    name = models.CharField(max_length=64)
    capacity = models.PositiveIntegerField(default=100, help_text="Writes per simulated second.")
    latency = models.FloatField(default=0.01, help_text="Simulated seconds per write.")
    down = models.BooleanField(default=False)
    # While down: the simulated instant it comes back, None until switched on again.
    down_until = models.FloatField(null=True, blank=True)
    # The writes taken in simulated second `second` (whole seconds), against capacity.
    second = models.BigIntegerField(default=0)
    used = models.PositiveIntegerField(default=0)
    writes = models.PositiveBigIntegerField(default=0)
    refused = models.PositiveBigIntegerField(default=0)  # writes it could not take
    created_at = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="database_name_unique"),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def is_down(self, now: float) -> bool:
        return self.down and (self.down_until is None or now < self.down_until)


class Producer(models.Model):
    """A client outside AWS that calls on a schedule: an app sending to a queue or a
    topic, or API Gateway calling a function directly. Its rate has peaks (the peak
    hour): `peak_rate` for the first `peak_length` seconds of every `peak_every`."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="producers")
    name = models.CharField(max_length=64)
    target_arn = models.CharField(max_length=256)  # a queue, topic or function
    rate = models.FloatField(default=1.0, help_text="Requests per simulated second.")
    peak_rate = models.FloatField(default=0.0)
    peak_every = models.PositiveIntegerField(default=0)  # seconds; 0: no peaks
    peak_length = models.PositiveIntegerField(default=0)
    body_template = models.CharField(max_length=1024, default='{"order": {n}}')
    enabled = models.BooleanField(default=True, db_index=True)
    started_at = models.FloatField()  # simulated: where the peaks' schedule starts
    last_at = models.FloatField()  # simulated: requests are made up to here
    owed = models.FloatField(default=0.0)  # the part of a request due, not yet made
    next_at = models.FloatField()  # simulated instant of its next request
    run_requested_at = models.FloatField(null=True, blank=True)  # wall: a run is queued
    made = models.PositiveBigIntegerField(default=0)  # requests made: {n} in the body
    sent = models.PositiveBigIntegerField(default=0)  # accepted (a direct call: answered)
    lost = models.PositiveBigIntegerField(default=0)  # refused, throttled or failed calls
    dropped = models.PositiveBigIntegerField(default=0)  # due, but past what a run makes
    last_error = models.CharField(max_length=512, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="producer_name_unique"),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EventSourceMapping(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="mappings")
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="mappings")
    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="mappings")
    batch_size = models.PositiveIntegerField(default=10)
    maximum_batching_window = models.PositiveIntegerField(default=0, help_text="Seconds.")
    enabled = models.BooleanField(default=True)
    # ScalingConfig.MaximumConcurrency; None leaves the pollers' own scaling as the cap.
    maximum_concurrency = models.PositiveIntegerField(null=True, blank=True, default=5)
    # FunctionResponseTypes: [] or ["ReportBatchItemFailures"].
    function_response_types = models.JSONField(default=list, blank=True)
    # FilterCriteria as given: {"Filters": [{"Pattern": "<json>"}]}, or None.
    filter_criteria = models.JSONField(null=True, blank=True)
    modified_at = models.FloatField(default=0.0, help_text="Simulated epoch seconds.")
    # Ticker bookkeeping (wall epoch seconds): a poll task is queued and has not
    # run to its end yet, so the ticker does not queue another every 50 ms.
    poll_requested_at = models.FloatField(null=True, blank=True)
    # Why the last poll could not receive ("KmsDisabled: ..."), until one can again.
    poll_error = models.CharField(max_length=512, blank=True)
    # Simulated time the batching window opened, until the batch it gathers is taken.
    window_opened_at = models.FloatField(null=True, blank=True)
    # Simulated time its pollers began scaling up (a backlog at their cap), until the
    # queue is found empty (lambda-sqs.md §2).
    scaling_since = models.FloatField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "function"], name="mapping_unique"),
        ]
        ordering = ["created", "pk"]

    def __str__(self) -> str:
        return f"{self.queue} → {self.function}"

    @property
    def arn(self) -> str:
        return arns.event_source_mapping(self.workspace, self.uuid)

    @property
    def poll_error_code(self) -> str:
        return self.poll_error.partition(":")[0]


class Invocation(models.Model):
    """One run of a function on one batch, from started_at to ends_at (simulated)."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        TIMED_OUT = "timed_out"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invocations")
    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="invocations")
    mapping = models.ForeignKey(
        EventSourceMapping, on_delete=models.SET_NULL, null=True, related_name="invocations"
    )
    queue = models.ForeignKey(
        Queue, on_delete=models.SET_NULL, null=True, related_name="invocations"
    )
    # The producer whose direct call this is: a failed run is its lost request.
    producer = models.ForeignKey(
        "Producer", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    request_id = models.CharField(max_length=36, unique=True)
    # The exact SQS event Lambda passes to the handler (lambda-sqs.md §3).
    event = models.JSONField(default=dict)
    # The function's configuration when the invocation started ($LATEST then).
    config = models.JSONField(default=dict)
    started_at = models.FloatField()
    ends_at = models.FloatField()
    finished_at = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    error = models.TextField(blank=True)
    # How it was called: "RequestResponse" (a trigger's batch, or Invoke), "Event" (async).
    invocation_type = models.CharField(max_length=16, default="RequestResponse")
    # What the handler returned, as JSON text ("null" for nothing), once finished.
    response = models.TextField(blank=True)
    # Ticker bookkeeping (wall epoch seconds): a finish task is queued.
    finish_requested_at = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = [
            # Leading `status`: the ticker lists workspaces with running invocations,
            # then each workspace's due ones (status, workspace, ends_at <= now).
            models.Index(fields=["status", "workspace", "ends_at"], name="invocation_due"),
            models.Index(fields=["mapping", "status"], name="invocation_mapping_status"),
            models.Index(fields=["function", "status"], name="invocation_function_status"),
        ]
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return self.request_id

    @property
    def message_ids(self) -> list[str]:
        # SQS records carry `messageId`; an SNS record its notification's `Sns.MessageId`;
        # a direct call's payload may hold anything.
        records = self.event.get("Records") if isinstance(self.event, dict) else None
        if not isinstance(records, list):
            return []
        ids = []
        for r in records:
            if isinstance(r, dict):
                sns = r.get("Sns") if isinstance(r.get("Sns"), dict) else {}
                ids.append(str(r.get("messageId") or sns.get("MessageId") or ""))
        return [i for i in ids if i]


class Event(models.Model):
    """One state change: the message timeline, the function log and the API feed."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=48)
    at = models.FloatField(help_text="Simulated epoch seconds.")
    queue = models.CharField(max_length=80, blank=True)
    message_id = models.CharField(max_length=100, blank=True)
    # The resource beside the queue whose page lists the event, `<resource>:<name>`
    # (`function:orders`): see `events.subject`.
    subject = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "message_id"], name="event_message"),
            models.Index(fields=["workspace", "subject", "id"], name="event_subject"),
            models.Index(fields=["workspace", "kind", "id"], name="event_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class MoveTask(models.Model):
    """A dead-letter queue redrive (StartMessageMoveTask), advanced by the ticker."""

    class Status(models.TextChoices):
        RUNNING = "RUNNING"
        COMPLETED = "COMPLETED"
        CANCELLED = "CANCELLED"
        FAILED = "FAILED"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="move_tasks")
    source = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="move_tasks")
    handle = models.CharField(max_length=64, unique=True)
    # Empty: every message goes back to the queue it came from.
    destination_arn = models.CharField(max_length=256, blank=True)
    rate = models.PositiveIntegerField(null=True, blank=True)  # messages per simulated second
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    to_move = models.PositiveIntegerField(default=0)
    moved = models.PositiveIntegerField(default=0)
    failure_reason = models.CharField(max_length=256, blank=True)
    started_at = models.FloatField()
    finished_at = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "status"], name="move_task_status")]

    def __str__(self) -> str:
        return self.handle


class KmsKey(models.Model):
    """A KMS key of a workspace. `material` is the key, sealed under the server's root key."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="kms_keys")
    key_id = models.CharField(max_length=36, unique=True)
    description = models.TextField(blank=True)
    # CUSTOMER (CreateKey), AWS (alias/aws/sqs) or SQS (the key behind SqsManagedSseEnabled).
    manager = models.CharField(max_length=16, default="CUSTOMER")
    enabled = models.BooleanField(default=True)
    key_spec = models.CharField(max_length=24, default="SYMMETRIC_DEFAULT")
    key_usage = models.CharField(max_length=24, default="ENCRYPT_DECRYPT")
    policy = models.TextField(blank=True)  # empty: KMS's default key policy
    material = models.TextField(blank=True)  # only symmetric keys have any: nothing else uses it
    created_at = models.FloatField()

    def __str__(self) -> str:
        return self.key_id


class KmsAlias(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="kms_aliases")
    name = models.CharField(max_length=256)
    key = models.ForeignKey(KmsKey, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="kms_alias_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class CachedDataKey(models.Model):
    """A data key SQS reuses for KmsDataKeyReusePeriodSeconds instead of asking KMS again.

    AWS keeps it "cached separately for encryption and for decryption", per
    principal: an ENCRYPT copy seals that principal's next sends to the queue, a
    DECRYPT copy opens, for that principal, what the data key sealed. Either is
    good until `expires_at` (simulated seconds). Only the wrapped form is stored.
    Rows are never updated and outlive their period and their queue: each is the
    result of KMS requests (GenerateDataKey and Decrypt, or Decrypt), so they also
    count what SQS asked of each key, without a counter row every send would lock.
    """

    class Use(models.TextChoices):
        ENCRYPT = "encrypt"
        DECRYPT = "decrypt"

    queue = models.ForeignKey(Queue, on_delete=models.SET_NULL, null=True, related_name="data_keys")
    key = models.ForeignKey(KmsKey, on_delete=models.CASCADE, related_name="data_keys")
    principal = models.CharField(max_length=128)
    use = models.CharField(max_length=8, choices=Use.choices)
    wrapped = models.TextField()  # "<key pk>:<base64>", as on the messages it seals
    # sha256 of `wrapped`: which data key this is. Indexed for a receiver's lookup, which
    # must not slow down with every data key the receiver opened in the period.
    digest = models.CharField(max_length=64, db_index=True)
    expires_at = models.FloatField()

    class Meta:
        indexes = [
            models.Index(
                fields=["queue", "use", "principal", "expires_at"], name="cached_data_key_lookup"
            )
        ]

    def __str__(self) -> str:
        return f"{self.use} data key of {self.principal}"
