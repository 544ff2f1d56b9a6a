"""AWS errors raised by the services, one class per error code.

Each class carries the JSON code (`__type`), the legacy query code (what boto3
shows as `Error.Code`, also sent in `x-amzn-query-error`) and the HTTP status,
following `shared/reference/sqs.md` §11 and `protocols.md` §2.3 and §5.
`broker/api/errors.py` turns them into wire responses, views into form errors.
"""

from __future__ import annotations


class AwsError(Exception):
    code = "InternalFailure"  # JSON protocol __type
    query_code: str | None = None  # legacy query code; defaults to `code`
    status = 400
    sender_fault = True
    default_message = ""
    # A refusal that is itself something that happened (a throttle): the events
    # recorded before it is raised are kept, not rolled back with the request.
    keeps_events = False

    def __init__(self, message: str | None = None, *, field: str | None = None):
        self.message = message if message is not None else self.default_message
        # The form field a view should show the message next to, when known.
        self.field = field
        super().__init__(self.message)

    @property
    def wire_query_code(self) -> str:
        return self.query_code or self.code


class QueueDoesNotExist(AwsError):
    code = "QueueDoesNotExist"
    query_code = "AWS.SimpleQueueService.NonExistentQueue"
    default_message = "The specified queue does not exist."


class AccessDenied(AwsError):
    """A queue's access policy refuses the caller (SQS answers AccessDenied, 403)."""

    code = "AccessDenied"
    status = 403


class QueueNameExists(AwsError):
    code = "QueueNameExists"
    query_code = "QueueAlreadyExists"


class QueueDeletedRecently(AwsError):
    code = "QueueDeletedRecently"
    query_code = "AWS.SimpleQueueService.QueueDeletedRecently"


class PurgeQueueInProgress(AwsError):
    code = "PurgeQueueInProgress"
    query_code = "AWS.SimpleQueueService.PurgeQueueInProgress"
    status = 403


class MessageNotInflight(AwsError):
    code = "MessageNotInflight"
    query_code = "AWS.SimpleQueueService.MessageNotInflight"
    default_message = "The message referred to isn't in flight."


class ReceiptHandleIsInvalid(AwsError):
    code = "ReceiptHandleIsInvalid"


class TooManyEntriesInBatchRequest(AwsError):
    code = "TooManyEntriesInBatchRequest"
    query_code = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"


class EmptyBatchRequest(AwsError):
    code = "EmptyBatchRequest"
    query_code = "AWS.SimpleQueueService.EmptyBatchRequest"
    default_message = "There should be at least one SendMessageBatchRequestEntry in the request."


class BatchEntryIdsNotDistinct(AwsError):
    code = "BatchEntryIdsNotDistinct"
    query_code = "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"


class InvalidBatchEntryId(AwsError):
    code = "InvalidBatchEntryId"
    query_code = "AWS.SimpleQueueService.InvalidBatchEntryId"
    default_message = (
        "A batch entry id can only contain alphanumeric characters, hyphens and "
        "underscores. It can be at most 80 letters long."
    )


class BatchRequestTooLong(AwsError):
    code = "BatchRequestTooLong"
    query_code = "AWS.SimpleQueueService.BatchRequestTooLong"


class UnsupportedOperation(AwsError):
    code = "UnsupportedOperation"
    query_code = "AWS.SimpleQueueService.UnsupportedOperation"


class OverLimit(AwsError):
    code = "OverLimit"
    status = 403


class RequestThrottled(AwsError):
    """Over a FIFO queue's call quota: 403 and Sender, as AWS's answers show (SDKs retry it)."""

    code = "RequestThrottled"
    status = 403


class InvalidSecurity(AwsError):
    code = "InvalidSecurity"
    status = 403


class InvalidAttributeName(AwsError):
    code = "InvalidAttributeName"


class InvalidAttributeValue(AwsError):
    code = "InvalidAttributeValue"


class InvalidMessageContents(AwsError):
    code = "InvalidMessageContents"
    default_message = (
        "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | "
        "#x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
    )


class InvalidAddress(AwsError):
    """A queue URL whose account part is no account id (status 404, as AWS answers it)."""

    code = "InvalidAddress"
    status = 404


class ResourceNotFoundException(AwsError):
    code = "ResourceNotFoundException"
    status = 404


class InvalidParameterValue(AwsError):
    code = "InvalidParameterValueException"
    query_code = "InvalidParameterValue"


class MissingParameter(AwsError):
    code = "MissingRequiredParameterException"
    query_code = "MissingParameter"


class InvalidAction(AwsError):
    code = "InvalidAction"


class MalformedRequest(AwsError):
    """A body that is not the JSON or form encoding it claims to be."""

    code = "MalformedQueryString"
    query_code = "MalformedQueryString"


# --- authentication (protocols.md §5) ---------------------------------------


class MissingAuthenticationToken(AwsError):
    code = "MissingAuthenticationToken"
    status = 403
    default_message = "Request is missing Authentication Token"


class IncompleteSignature(AwsError):
    code = "IncompleteSignature"


class InvalidClientTokenId(AwsError):
    code = "InvalidClientTokenId"
    status = 403
    default_message = "The security token included in the request is invalid."


class SignatureDoesNotMatch(AwsError):
    code = "SignatureDoesNotMatch"
    status = 403
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details."
    )


class RequestExpired(AwsError):
    code = "RequestExpired"


# --- Lambda (lambda-sqs.md §1.2) ----------------------------------------------


class ResourceConflictException(AwsError):
    code = "ResourceConflictException"
    status = 409


class InvalidParameterValueException(AwsError):
    code = "InvalidParameterValueException"


class RoleAccessDenied(AwsError):
    """A function's execution role does not allow an SQS action its trigger needs."""

    code = "AccessDeniedException"
    status = 403


class ValidationException(AwsError):
    """A value outside the API model's own constraints ("1 validation error detected: …")."""

    code = "ValidationException"


class InvalidRequestContentException(AwsError):
    """A Lambda request body that is not the JSON its operation takes."""

    code = "InvalidRequestContentException"


class RequestEntityTooLargeException(AwsError):
    code = "RequestEntityTooLargeException"
    status = 413


class TooManyRequestsException(AwsError):
    """An invocation over a concurrency limit (lambda-sqs.md §6): 429, its Reason and
    when to try again."""

    code = "TooManyRequestsException"
    status = 429
    default_message = "Rate Exceeded."
    keeps_events = True

    def __init__(self, message=None, *, reason: str, retry_after: int = 1, field=None):
        super().__init__(message, field=field)
        self.reason = reason
        self.retry_after = retry_after


class ServiceException(AwsError):
    code = "ServiceException"
    status = 500
    sender_fault = False


class UnsupportedMediaTypeException(AwsError):
    code = "UnsupportedMediaTypeException"
    status = 415


class InvalidRequest(AwsError):
    """The developer endpoint `/_aws/sqs/messages` was sent another action."""

    code = "InvalidRequest"
    default_message = "This endpoint only accepts ReceiveMessage calls"


# --- SSE-KMS failures as SQS reports them on SendMessage / ReceiveMessage (sqs.md §11) ---


class KmsFailure(AwsError):
    """SQS could not use the queue's KMS key."""


class KmsDisabled(KmsFailure):
    code = "KmsDisabled"


class KmsNotFound(KmsFailure):
    code = "KmsNotFound"


class KmsInvalidState(KmsFailure):
    code = "KmsInvalidState"


class KmsInvalidKeyUsage(KmsFailure):
    code = "KmsInvalidKeyUsage"


class KmsAccessDenied(KmsFailure):
    code = "KmsAccessDenied"
    default_message = "The caller doesn't have the required KMS access."


class KmsThrottled(KmsFailure):
    code = "KmsThrottled"
    default_message = "The request was denied due to request throttling."


class KmsOptInRequired(KmsFailure):
    code = "KmsOptInRequired"


# --- the KMS API's own errors (JSON protocol, `__type` = the code) ------------------------


class KmsNotFoundException(AwsError):
    code = "NotFoundException"


class KmsValidationException(AwsError):
    code = "ValidationException"


class KmsAlreadyExistsException(AwsError):
    code = "AlreadyExistsException"


class KmsInvalidStateException(AwsError):
    code = "KMSInvalidStateException"


class KmsMalformedPolicyDocument(AwsError):
    code = "MalformedPolicyDocumentException"


class KmsAccessDeniedException(AwsError):
    code = "AccessDeniedException"


class KmsNotAuthorized(AwsError):
    code = "NotAuthorizedException"


class OptInRequired(AwsError):
    """A call to a service the account is not subscribed to (AWS's common error)."""

    code = "OptInRequired"
    status = 403
    default_message = "The AWS access key ID needs a subscription for the service."


# --- SNS (sns.md §10; every one is the sender's fault) ------------------------------


class SnsInvalidParameter(AwsError):
    code = "InvalidParameter"


class SnsNotFound(AwsError):
    code = "NotFound"
    status = 404


class SnsResourceNotFound(AwsError):
    code = "ResourceNotFound"
    status = 404
    default_message = "Resource does not exist"


class SnsTagLimitExceeded(AwsError):
    code = "TagLimitExceeded"
    default_message = "Can't add more than 50 tags to a topic."


class SnsAuthorizationError(AwsError):
    code = "AuthorizationError"
    status = 403


class SnsKmsFailure(AwsError):
    """SNS could not use the topic's KMS key (sns.md §10: KMS* errors)."""


class SnsKMSDisabled(SnsKmsFailure):
    code = "KMSDisabled"


class SnsKMSNotFound(SnsKmsFailure):
    code = "KMSNotFound"


class SnsKMSAccessDenied(SnsKmsFailure):
    code = "KMSAccessDenied"


class SnsKMSInvalidState(SnsKmsFailure):
    code = "KMSInvalidState"


class SnsKMSThrottling(SnsKmsFailure):
    code = "KMSThrottling"


class SnsKMSOptInRequired(SnsKmsFailure):
    code = "KMSOptInRequired"
    status = 403


class SnsParameterValueInvalid(AwsError):
    code = "ParameterValueInvalid"


class SnsValidationError(AwsError):
    code = "ValidationError"


class SnsTooManyEntriesInBatchRequest(AwsError):
    code = "TooManyEntriesInBatchRequest"
    default_message = "The batch request contains more entries than permissible."


class SnsEmptyBatchRequest(AwsError):
    code = "EmptyBatchRequest"
    default_message = "The batch request doesn't contain any entries."


class SnsBatchEntryIdsNotDistinct(AwsError):
    code = "BatchEntryIdsNotDistinct"
    default_message = "Two or more batch entries in the request have the same Id."


class SnsInvalidBatchEntryId(AwsError):
    code = "InvalidBatchEntryId"


class SnsBatchRequestTooLong(AwsError):
    code = "BatchRequestTooLong"
    default_message = "The length of all the messages put together is more than the limit."
