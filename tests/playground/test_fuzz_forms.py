"""Every form of the workspace, posted by its owner with fields hypothesis damages: no
answer is a 500 or a traceback, markup typed into a field comes back as text, and a
refused form changes nothing.

Seeded (`derandomize`); `PLAYGROUND_FUZZ_EXAMPLES` sets the budget per form.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import EXAMPLES, seeded
from tests.playground.test_isolation import FORMS, KWARGS, _owned, _visitor, snapshot

FUZZ = seeded(max(EXAMPLES // 6, 4))
MARKUP = "<fuzz-tag>"  # never one of the page's own tags: it must come back escaped
VALUES = st.text(max_size=30) | st.sampled_from(
    ["", "0", "-1", "1e9", "99999999999999999999", "nan", "on", "true", "x" * 5000,
     MARKUP, "{", '{"a": [}', "\x00", "alias/aws/x", "arn:aws:sqs:us-east-1:1:x", " "]
)  # fmt: skip

pytestmark = pytest.mark.django_db


def damaged(valid: dict):
    """The valid form with each field kept, dropped or replaced, and a stray one added."""
    fields = {name: st.one_of(st.just(value), st.none(), VALUES) for name, value in valid.items()}
    extra = {name: VALUES for name in ("stray", "action", "name") if name not in valid}
    return st.fixed_dictionaries(fields, optional=extra).map(
        lambda form: {k: v for k, v in form.items() if v is not None}
    )


def resources_of(workspace) -> dict:
    """The workspace's rows. Not its usage counters (a refused request is billed, as
    AWS bills it) nor when it was last used (a refused request is a use too)."""
    rows = snapshot(workspace)
    del rows["usage"]
    for row in rows["Workspace"]:
        del row["last_used"]
    return rows


@pytest.mark.parametrize("name", sorted(FORMS))
def test_a_damaged_form_is_answered_without_a_500_and_a_refusal_changes_nothing(name):
    client, workspace = _visitor()
    resources = _owned(workspace)
    path = reverse(name, kwargs={"slug": workspace.slug, **KWARGS[name](resources)})
    statuses = set()

    @FUZZ
    @given(form=damaged(FORMS[name](resources)))
    def run(form):
        before = resources_of(workspace)
        answer = client.post(path, form, HTTP_HX_REQUEST="true")
        text = answer.content.decode()
        statuses.add(answer.status_code)
        assert answer.status_code < 500, (form, text[:300])
        assert "Traceback" not in text
        assert MARKUP not in text
        if answer.status_code >= 400:
            assert resources_of(workspace) == before, (form, answer.status_code, text[:300])

    run()
    assert statuses, name
