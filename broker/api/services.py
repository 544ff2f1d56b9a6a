"""The AWS services this endpoint answers: one row each.

A row says how a request finds its service and its action, and how the service
writes its answers and errors (`protocols.md` §1):

- JSON requests (`X-Amz-Target: <prefix>.<Action>`) route by the target's prefix:
  `AmazonSQS.` is SQS (awsJson 1.0), `TrentService.` KMS (awsJson 1.1);
- query requests (`Action=…`: SQS's old clients, and SNS's) route by the service of
  the SigV4 credential scope (`sns` is SNS, 2010-03-31); an unsigned or SigV2
  request is SQS's, whose old SDKs are the ones that send them;
- REST-JSON requests (Lambda's `/2015-03-31/functions/…`) route by path
  (`broker/api/lambda_rest.py`).

A new service is a new row; nothing else here changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from broker import errors
from broker.api import actions, kms_actions, lambda_actions, query, sns_actions, sns_query
from broker.api.errors import UnknownOperation


@dataclass(frozen=True)
class Service:
    name: str  # its SigV4 signing name, the service of a credential scope
    actions: Mapping[str, Callable]  # action name -> handler(call, params)
    target_prefix: str = ""  # X-Amz-Target prefix of its JSON protocol, "" for none
    json_version: str = "1.0"  # awsJson 1.0 or 1.1: the Content-Type of its answers
    error_namespace: str = ""  # the `__type` prefix of its JSON errors ("" for the bare code)
    # awsQueryCompatible (SQS): JSON errors also carry the query code in a header.
    query_compatible: bool = False
    xml_namespace: str = ""  # of its query protocol, "" when it speaks none
    query_params: Callable | None = None  # (flat parameters, action) -> the model's shapes
    query_render: Callable | None = None  # (action, result, request id) -> the XML answer

    @property
    def speaks_query(self) -> bool:
        return bool(self.xml_namespace)

    def handler(self, action: str) -> Callable:
        """The action's handler; the service's own error for one it does not have."""
        found = self.actions.get(action)
        if found is not None:
            return found
        if self.speaks_query:
            raise errors.InvalidAction(f"The action {action[:80]} is not valid for this endpoint.")
        if self is NONE:
            raise UnknownOperation(f"The target {action[:80]!r} names no service of this endpoint.")
        raise UnknownOperation(
            f"The {self.name.upper()} operation {action[:80]!r} is not offered here."
        )


SQS = Service(
    name="sqs",
    actions=actions.ACTIONS,
    target_prefix="AmazonSQS.",
    json_version="1.0",
    error_namespace="com.amazonaws.sqs",
    query_compatible=True,
    xml_namespace=query.XMLNS,
    query_params=query.to_params,
    query_render=query.render,
)
SNS = Service(
    name="sns",
    actions=sns_actions.ACTIONS,
    xml_namespace=sns_query.XMLNS,
    query_params=sns_query.to_params,
    query_render=sns_query.render,
)
KMS = Service(
    name="kms",
    actions=kms_actions.ACTIONS,
    target_prefix="TrentService.",
    json_version="1.1",
)
# REST-JSON: its operations are found by path, not by target or Action.
LAMBDA = Service(name="lambda", actions=lambda_actions.ACTIONS)
SERVICES = (SQS, SNS, KMS, LAMBDA)
# The service of a request nothing else names (unsigned, SigV2, a garbled signature).
DEFAULT = SQS
# What answers a JSON target of no service here: awsJson's bare UnknownOperationException.
NONE = Service(name="", actions={})


def by_target(target: str) -> tuple[Service, str]:
    """(service, action) of a JSON request's X-Amz-Target; NONE when no service has it."""
    for service in SERVICES:
        if service.target_prefix and target.startswith(service.target_prefix):
            return service, target[len(service.target_prefix) :]
    return NONE, target


def by_scope(scope_service: str | None) -> Service:
    """The service of a query request, from its credential scope (None: unsigned, SigV2)."""
    if scope_service is None:
        return DEFAULT
    for service in SERVICES:
        if service.name == scope_service and service.speaks_query:
            return service
    raise errors.SignatureDoesNotMatch(
        f"Credential should be scoped to correct service: '{DEFAULT.name}'. "
        f"This endpoint offers no '{scope_service[:40]}' service."
    )


def check_scope(service: Service, scope_service: str) -> None:
    """A request signed for another service is refused, as AWS refuses it."""
    if scope_service != service.name:
        raise errors.SignatureDoesNotMatch(
            f"Credential should be scoped to correct service: '{service.name}'. "
        )
