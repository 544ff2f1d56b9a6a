"""The KMS actions (`X-Amz-Target: TrentService.<Action>`, awsJson 1.1) on the same endpoint.

Only what a learner needs to encrypt queues with their own key and to watch a
disabled key, a key of the wrong type or a key policy break sends and receives:
CreateKey, DescribeKey, ListKeys, DisableKey, EnableKey, CreateAlias,
ListAliases, GetKeyPolicy, PutKeyPolicy. The semantics are
`broker/kms/`'s; this maps parameters and shapes answers.
"""

from __future__ import annotations

from broker import arns, errors, kms
from broker.api import params as p
from broker.api.actions import Call


def _algorithms(key) -> dict:
    """The algorithms DescribeKey lists for the key's spec and usage."""
    spec, usage = key.key_spec, key.key_usage
    if usage == "ENCRYPT_DECRYPT":
        return {
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]
            if spec == kms.SYMMETRIC
            else ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
        }
    if usage == "GENERATE_VERIFY_MAC":
        return {"MacAlgorithms": [f"HMAC_SHA_{spec.removeprefix('HMAC_')}"]}
    if usage == "KEY_AGREEMENT":
        return {"KeyAgreementAlgorithms": ["ECDH"]}
    if spec.startswith("RSA"):
        return {
            "SigningAlgorithms": [
                f"RSASSA_{pad}_SHA_{bits}"
                for pad in ("PSS", "PKCS1_V1_5")
                for bits in (256, 384, 512)
            ]
        }
    if spec.startswith("ML_DSA"):
        return {"SigningAlgorithms": ["ML_DSA_SHAKE_256"]}
    bits = {"ECC_NIST_P384": 384, "ECC_NIST_P521": 512}.get(spec, 256)
    return {"SigningAlgorithms": [f"ECDSA_SHA_{bits}"]}


def _metadata(key) -> dict:
    return {
        "AWSAccountId": key.workspace.account_id,
        "KeyId": key.key_id,
        "Arn": kms.key_arn(key),
        "CreationDate": key.created_at,
        "Enabled": key.enabled,
        "Description": key.description,
        "KeyUsage": key.key_usage,
        "KeyState": "Enabled" if key.enabled else "Disabled",
        "Origin": "AWS_KMS",
        "KeyManager": key.manager,
        "CustomerMasterKeySpec": key.key_spec,
        "KeySpec": key.key_spec,
        **_algorithms(key),
        "MultiRegion": False,
    }


def create_key(call: Call, params: dict) -> dict:
    key = kms.create_key(
        call.workspace,
        description=p.string(params, "Description") or "",
        spec=p.string(params, "KeySpec") or p.string(params, "CustomerMasterKeySpec"),
        usage=p.string(params, "KeyUsage"),
        policy=p.string(params, "Policy"),
        bypass_lockout=p.boolean(params, "BypassPolicyLockoutSafetyCheck") or False,
        clock=call.clock,
    )
    return {"KeyMetadata": _metadata(key)}


def _key_id(params: dict) -> str:
    return p.string(params, "KeyId", needed=True)


def describe_key(call: Call, params: dict) -> dict:
    key = kms.resolve(call.workspace, _key_id(params), clock=call.clock)
    kms.authorize(key, "kms:DescribeKey")
    return {"KeyMetadata": _metadata(key)}


def _policy_name(params: dict) -> None:
    name = p.string(params, "PolicyName")
    if name not in (None, "default"):
        raise errors.KmsNotFoundException(f"No such policy exists: {name[:128]}")


def get_key_policy(call: Call, params: dict) -> dict:
    _policy_name(params)
    return {
        "Policy": kms.get_policy(call.workspace, _key_id(params), clock=call.clock),
        "PolicyName": "default",
    }


def put_key_policy(call: Call, params: dict) -> dict:
    _policy_name(params)
    kms.put_policy(
        call.workspace,
        _key_id(params),
        p.string(params, "Policy", needed=True),
        bypass_lockout=p.boolean(params, "BypassPolicyLockoutSafetyCheck") or False,
        clock=call.clock,
    )
    return {}


def list_keys(call: Call, params: dict) -> dict:
    return {
        "Keys": [
            {"KeyId": k.key_id, "KeyArn": kms.key_arn(k)} for k in kms.list_keys(call.workspace)
        ],
        "Truncated": False,
    }


def disable_key(call: Call, params: dict) -> dict:
    kms.set_enabled(call.workspace, _key_id(params), False, clock=call.clock)
    return {}


def enable_key(call: Call, params: dict) -> dict:
    kms.set_enabled(call.workspace, _key_id(params), True, clock=call.clock)
    return {}


def create_alias(call: Call, params: dict) -> dict:
    kms.create_alias(
        call.workspace,
        p.string(params, "AliasName", needed=True),
        p.string(params, "TargetKeyId", needed=True),
        clock=call.clock,
    )
    return {}


def list_aliases(call: Call, params: dict) -> dict:
    ws = call.workspace
    return {
        "Aliases": [
            {
                "AliasName": a.name,
                "AliasArn": arns.kms_alias(ws, a.name),
                "TargetKeyId": a.key.key_id,
            }
            for a in kms.list_aliases(ws)
        ],
        "Truncated": False,
    }


def _opted_in(action):
    """The action, answered only for an account opted in to KMS (OptInRequired otherwise)."""

    def run(call: Call, params: dict) -> dict:
        kms.require_opt_in(call.workspace)
        return action(call, params)

    return run


ACTIONS = {
    name: _opted_in(action)
    for name, action in {
        "CreateKey": create_key,
        "DescribeKey": describe_key,
        "ListKeys": list_keys,
        "DisableKey": disable_key,
        "EnableKey": enable_key,
        "CreateAlias": create_alias,
        "ListAliases": list_aliases,
        "GetKeyPolicy": get_key_policy,
        "PutKeyPolicy": put_key_policy,
    }.items()
}
