"""KMS key policies: who may use a key for what, read the way KMS reads them.

A key without a policy of its own has KMS's default one: the account may do
everything with it (`kms:*` for `arn:aws:iam::<account>:root`). Every caller of
the playground is its workspace's account, so a statement applies to a call
when its Principal is `*` or names that account (its id or its root ARN), and
its Action (or NotAction) matches, `*` wildcards included. An explicit Deny
wins, then an Allow; with neither, the call is denied.

Conditions are not evaluated: a statement with a Condition applies as if the
condition held. Statements naming one IAM user or role do not apply, since the
playground has no IAM identities.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase

from broker import arns, errors

MAX_BYTES = 32 * 1024


def default(account_id: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": arns.account_root(account_id)},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def aws_managed_for_sqs(account_id: str, region: str) -> dict:
    """The policy of `alias/aws/sqs`: any principal of the account, through SQS only."""
    return {
        "Version": "2012-10-17",
        "Id": "auto-sqs-2",
        "Statement": [
            {
                "Sid": "Allow access through Simple Queue Service (SQS) for all principals in the "
                "account that are authorized to use SQS",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:CreateGrant",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": f"sqs.{region}.amazonaws.com",
                        "kms:CallerAccount": account_id,
                    }
                },
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": arns.account_root(account_id)},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*",
            },
        ],
    }


def parse(text: str) -> dict:
    """The policy document; MalformedPolicyDocumentException when KMS would refuse it."""
    if len(text.encode()) > MAX_BYTES:
        raise errors.KmsMalformedPolicyDocument(
            f"The key policy is {len(text.encode())} bytes; the maximum is {MAX_BYTES}."
        )
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise errors.KmsMalformedPolicyDocument(
            f"The key policy is not valid JSON: {exc}."
        ) from None
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not statements or not isinstance(statements, list):
        raise errors.KmsMalformedPolicyDocument("The key policy has no Statement.")
    for s in statements:
        if not isinstance(s, dict) or s.get("Effect") not in ("Allow", "Deny"):
            raise errors.KmsMalformedPolicyDocument(
                "Every statement needs an Effect of Allow or Deny."
            )
        if ("Principal" in s) == ("NotPrincipal" in s):
            raise errors.KmsMalformedPolicyDocument(
                "Every statement of a key policy needs a Principal."
            )
        if ("Action" in s) == ("NotAction" in s):
            raise errors.KmsMalformedPolicyDocument("Every statement needs an Action.")
    return {**document, "Statement": statements}


def _listed(value) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]


def _names_account(principal, account_id: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    accounts = {"*", account_id, arns.account_root(account_id)}
    return any(p in accounts for p in _listed(principal.get("AWS")))


def _applies_to(statement: dict, account_id: str) -> bool:
    if "NotPrincipal" in statement:
        return not _names_account(statement["NotPrincipal"], account_id)
    return _names_account(statement["Principal"], account_id)


def _matches_action(statement: dict, action: str) -> bool:
    if "NotAction" in statement:
        return not any(
            fnmatchcase(action.lower(), a.lower()) for a in _listed(statement["NotAction"])
        )
    return any(fnmatchcase(action.lower(), a.lower()) for a in _listed(statement.get("Action")))


def allows(document: dict, action: str, account_id: str) -> bool:
    """Whether the account may call `action` (e.g. "kms:Decrypt") on the key."""
    applying = [
        s
        for s in document["Statement"]
        if _applies_to(s, account_id) and _matches_action(s, action)
    ]
    if any(s["Effect"] == "Deny" for s in applying):
        return False
    return any(s["Effect"] == "Allow" for s in applying)
