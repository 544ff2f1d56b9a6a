from __future__ import annotations

from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from broker.api import developer, lambda_code, sns_certificate, sns_links
from broker.api import views as aws
from broker.api.urls import QUEUE_URL_PATH
from playground.views import function, home, inbox, message, queue, root, topic, workspace

QUEUE = "w/<str:slug>/queues/<str:name>/"
FUNCTION = "w/<str:slug>/functions/<str:name>/"
TOPIC = "w/<str:slug>/topics/<str:name>/"
SUBSCRIPTION = TOPIC + "subscriptions/<str:uuid>/"
INBOX = "w/<str:slug>/inboxes/<str:kind>/<str:address>/"

urlpatterns = [
    path("", csrf_exempt(root.root), name="home"),
    path("healthz", root.healthz, name="healthz"),
    # The playground's pages (slugs are unguessable; see playground/views/access.py).
    path("w/", home.new_workspace, name="new-workspace"),
    path("w/<str:slug>/", workspace.workspace, name="workspace"),
    path("w/<str:slug>/clock/", workspace.clock, name="clock"),
    path("w/<str:slug>/queues/", workspace.create_queue, name="create-queue"),
    path("w/<str:slug>/functions/", workspace.create_function, name="create-function"),
    path("w/<str:slug>/triggers/", workspace.add_trigger, name="add-trigger"),
    path("w/<str:slug>/databases/", workspace.create_database, name="create-database"),
    path("w/<str:slug>/producers/", workspace.create_producer, name="create-producer"),
    path("w/<str:slug>/producers/<str:name>/", workspace.producer, name="producer"),
    path("w/<str:slug>/databases/<str:name>/", workspace.database, name="database"),
    path("w/<str:slug>/kms/", workspace.create_kms_key, name="kms-keys"),
    path("w/<str:slug>/kms-quota/", workspace.kms_quota, name="kms-quota"),
    path("w/<str:slug>/kms-opt-in/", workspace.kms_opt_in, name="kms-opt-in"),
    path("w/<str:slug>/aws-rules/", workspace.aws_rules, name="aws-rules"),
    path("w/<str:slug>/costs/reset/", workspace.reset_costs, name="costs-reset"),
    path("w/<str:slug>/kms/<str:key_id>/", workspace.toggle_kms_key, name="kms-key-toggle"),
    path("w/<str:slug>/triggers/<uuid:uuid>/", workspace.trigger, name="trigger"),
    path(QUEUE, queue.queue, name="queue"),
    path(QUEUE + "send/", queue.send, name="queue-send"),
    path(QUEUE + "poll/", queue.poll, name="queue-poll"),
    path(QUEUE + "delete/", queue.delete_message, name="queue-delete-message"),
    path(QUEUE + "purge/", queue.purge, name="queue-purge"),
    path(QUEUE + "delete-queue/", queue.delete, name="queue-delete"),
    path(QUEUE + "attributes/", queue.attributes, name="queue-attributes"),
    path(QUEUE + "redrive/", queue.start_redrive, name="queue-redrive"),
    path(QUEUE + "redrive/cancel/", queue.cancel_redrive, name="queue-redrive-cancel"),
    path("w/<str:slug>/messages/<str:message_id>/", message.message, name="message"),
    path("w/<str:slug>/topics/", topic.create_topic, name="create-topic"),
    path(TOPIC, topic.topic, name="topic"),
    path(TOPIC + "publish/", topic.publish, name="topic-publish"),
    path(TOPIC + "subscribe/", topic.subscribe, name="topic-subscribe"),
    path(TOPIC + "settings/", topic.settings, name="topic-settings"),
    path(TOPIC + "delete/", topic.delete, name="topic-delete"),
    path(SUBSCRIPTION + "unsubscribe/", topic.unsubscribe, name="topic-unsubscribe"),
    path(SUBSCRIPTION + "filter/", topic.filter_editor, name="topic-filter-editor"),
    path(SUBSCRIPTION + "filter/check/", topic.filter_policy, name="topic-filter"),
    path(INBOX, inbox.inbox, name="inbox"),
    path(INBOX + "mode/", inbox.set_mode, name="inbox-mode"),
    path(INBOX + "opt-out/", inbox.opt_out, name="inbox-opt-out"),
    path(INBOX + "messages/<int:pk>/confirm/", inbox.confirm, name="inbox-confirm"),
    path(FUNCTION, function.function, name="function"),
    path(FUNCTION + "config/", function.update, name="function-update"),
    path(FUNCTION + "test/", function.test, name="function-test"),
    path(FUNCTION + "role/", function.role, name="function-role"),
    path(FUNCTION + "delete/", function.delete, name="function-delete"),
    # GetFunction's Code.Location.
    path("_aws/lambda/code/<str:token>", lambda_code.download, name="lambda-code"),
    # The SubscribeURL and UnsubscribeURL of SNS's messages.
    path("_aws/sns/", sns_links.subscription_link, name="sns-links"),
    # SNS envelopes name it as their SigningCertURL.
    path(
        "_aws/sns/<str:account_id>/<str:name>",
        sns_certificate.signing_certificate,
        name="sns-signing-certificate",
    ),
    # Peek at messages without receiving them, as other local emulators allow.
    path("_aws/sqs/messages", csrf_exempt(developer.messages), name="aws-sqs-messages"),
    path(
        "_aws/sqs/messages/<str:region>/<str:account_id>/<str:queue_name>",
        csrf_exempt(developer.messages),
        name="aws-sqs-queue-messages",
    ),
    # Old SDKs POST query-protocol requests to the queue URL itself (protocols.md §1).
    re_path(QUEUE_URL_PATH, csrf_exempt(aws.queue_url_endpoint), name="aws-queue-url"),
]
