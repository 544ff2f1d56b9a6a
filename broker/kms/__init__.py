"""AWS KMS, as far as SQS (and later SNS) needs it, and how those services use it.

- `keys`: a workspace's keys and aliases, their state, the request quota and the
  opt-in; the two requests SQS makes (GenerateDataKey, Decrypt). Re-exported here,
  so callers read `kms.create_key(...)`.
- `key_policy`: how a key policy is read (explicit Deny, then Allow).
- `data_keys`: the data key reuse period, per principal, and the record of each
  request (the cost formula AWS documents).
- `encryption`: envelope encryption of message bodies and attributes at rest
  (AES-256-GCM data keys wrapped by a KMS key), and opening them for a receiver.
"""

from __future__ import annotations

from broker.kms.keys import (
    AWS_SQS_ALIAS,
    ENCRYPT_DECRYPT,
    KEY_USAGES,
    MAX_LIST,
    MAX_REQUEST_QUOTA,
    SQS_OWNED,
    SYMMETRIC,
    authorize,
    check_decrypt,
    create_alias,
    create_key,
    decrypt,
    generate_data_key,
    get_policy,
    key_arn,
    key_of,
    list_aliases,
    list_keys,
    policy_of,
    put_policy,
    reopen,
    require_opt_in,
    resolve,
    set_enabled,
    set_opted_in,
    set_request_quota,
    sqs_owned_key,
)

__all__ = [
    "AWS_SQS_ALIAS",
    "ENCRYPT_DECRYPT",
    "KEY_USAGES",
    "MAX_LIST",
    "MAX_REQUEST_QUOTA",
    "SQS_OWNED",
    "SYMMETRIC",
    "authorize",
    "check_decrypt",
    "create_alias",
    "create_key",
    "decrypt",
    "generate_data_key",
    "get_policy",
    "key_arn",
    "key_of",
    "list_aliases",
    "list_keys",
    "policy_of",
    "put_policy",
    "reopen",
    "require_opt_in",
    "resolve",
    "set_enabled",
    "set_opted_in",
    "set_request_quota",
    "sqs_owned_key",
]
