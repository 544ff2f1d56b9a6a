"""The KMS actions (`X-Amz-Target: TrentService.<Action>`, JSON 1.1) on the same endpoint.

Only what a learner needs to encrypt queues with their own key and to watch a
disabled key break sends and receives: CreateKey, DescribeKey, ListKeys,
DisableKey, EnableKey, CreateAlias, ListAliases. The semantics are
`broker/kms.py`'s; this maps parameters and shapes answers.
"""

from __future__ import annotations

import json

from django.http import HttpResponse

from broker import errors, kms
from broker.api import params as p
from broker.api.actions import Call

TARGET_PREFIX = "TrentService."


def _metadata(key) -> dict:
    return {
        "AWSAccountId": key.workspace.account_id, "KeyId": key.key_id, "Arn": kms.key_arn(key),
        "CreationDate": key.created_at, "Enabled": key.enabled,
        "Description": key.description, "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": "Enabled" if key.enabled else "Disabled", "Origin": "AWS_KMS",
        "KeyManager": key.manager, "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT", "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": False,
    }


def create_key(call: Call, params: dict) -> dict:
    spec = p.string(params, "KeySpec") or p.string(params, "CustomerMasterKeySpec")
    if spec not in (None, "SYMMETRIC_DEFAULT") or p.string(params, "KeyUsage") not in (
            None, "ENCRYPT_DECRYPT"):
        raise errors.KmsValidationException(
            "This playground makes symmetric ENCRYPT_DECRYPT keys only (what SQS uses).")
    key = kms.create_key(call.workspace, description=p.string(params, "Description") or "",
                         clock=call.clock)
    return {"KeyMetadata": _metadata(key)}


def _key_id(params: dict) -> str:
    return p.string(params, "KeyId", needed=True)


def describe_key(call: Call, params: dict) -> dict:
    return {"KeyMetadata": _metadata(kms.resolve(call.workspace, _key_id(params),
                                                 clock=call.clock))}


def list_keys(call: Call, params: dict) -> dict:
    return {"Keys": [{"KeyId": k.key_id, "KeyArn": kms.key_arn(k)}
                     for k in kms.list_keys(call.workspace)], "Truncated": False}


def disable_key(call: Call, params: dict) -> dict:
    kms.set_enabled(call.workspace, _key_id(params), False, clock=call.clock)
    return {}


def enable_key(call: Call, params: dict) -> dict:
    kms.set_enabled(call.workspace, _key_id(params), True, clock=call.clock)
    return {}


def create_alias(call: Call, params: dict) -> dict:
    kms.create_alias(call.workspace, p.string(params, "AliasName", needed=True),
                     p.string(params, "TargetKeyId", needed=True), clock=call.clock)
    return {}


def list_aliases(call: Call, params: dict) -> dict:
    ws = call.workspace
    return {"Aliases": [
        {"AliasName": a.name, "AliasArn": f"arn:aws:kms:{ws.region}:{ws.account_id}:{a.name}",
         "TargetKeyId": a.key.key_id} for a in kms.list_aliases(ws)], "Truncated": False}


ACTIONS = {
    "CreateKey": create_key, "DescribeKey": describe_key, "ListKeys": list_keys,
    "DisableKey": disable_key, "EnableKey": enable_key, "CreateAlias": create_alias,
    "ListAliases": list_aliases,
}


def action_of(target: str) -> str:
    action = target[len(TARGET_PREFIX):]
    if action not in ACTIONS:
        raise errors.InvalidAction(f"The KMS operation {action[:80]!r} is not offered here.")
    return action


def render(result: dict, request_id: str) -> HttpResponse:
    response = HttpResponse(json.dumps(result), content_type="application/x-amz-json-1.1")
    response["x-amzn-RequestId"] = request_id
    return response
