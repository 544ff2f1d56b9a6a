"""The seed note's encryption lesson: a queue sealed with the learner's own KMS key, the
ciphertext the database holds, and what disabling the key does to a send."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LIVE

pytestmark = pytest.mark.browser


def test_a_disabled_kms_key_stops_sends_and_the_database_holds_ciphertext(
    workspace_page, screenshot
):
    ws = workspace_page
    page = ws.page
    ws.create_queue("payments")
    page.fill("#kms_alias", "alias/payments")
    page.click("#create-key-button")
    expect(page.locator("tr.kms-key")).to_have_count(1)
    expect(page.locator("tr.kms-key")).to_contain_text("alias/payments")

    queue = ws.open("queues/payments/")
    queue.click("#edit-attributes summary")
    queue.fill("#attr_KmsMasterKeyId", "alias/payments")
    queue.select_option("#attr_SqsManagedSseEnabled", "false")
    queue.click("#attributes-button")
    expect(queue.locator("#attributes-form .note")).to_contain_text("KmsMasterKeyId")
    expect(queue.locator("#queue-attributes")).to_contain_text("SSE-KMS with alias/payments")

    queue.fill("#id_body", "card 4111 1111 1111 1111")
    queue.click("#send-button")
    expect(queue.locator("#sent-note")).to_be_visible()
    queue.locator("#sent-note a").click()
    expect(queue.locator("pre.body").first).to_have_text("card 4111 1111 1111 1111")
    expect(queue.locator("#ciphertext")).not_to_contain_text("4111")
    screenshot(queue, "message")

    page.locator("tr.kms-key button").click()
    expect(page.locator("tr.kms-key")).to_have_attribute("data-state", "disabled")
    queue.goto(ws.url + "queues/payments/")
    expect(queue.locator("#live-status.on")).to_be_visible(timeout=LIVE)
    expect(queue.locator("tr.message-row .locked")).to_contain_text("Cannot be decrypted")
    queue.fill("#id_body", "another card")
    queue.click("#send-button")
    expect(queue.locator("#send-form")).to_contain_text("is not enabled")
    screenshot(queue, "disabled")


def test_a_signing_key_is_listed_with_its_type_and_refused_for_a_queue(
    workspace_page, screenshot
):
    ws = workspace_page
    page = ws.page
    ws.create_queue("signed")
    page.fill("#kms_alias", "alias/signer")
    page.select_option("#kms_type", "RSA_2048/SIGN_VERIFY")
    page.click("#create-key-button")
    expect(page.locator("tr.kms-key .key-type")).to_have_text("RSA_2048SIGN_VERIFY")
    screenshot(page, "kms-keys")

    queue = ws.open("queues/signed/")
    queue.click("#edit-attributes summary")
    queue.fill("#attr_KmsMasterKeyId", "alias/signer")
    queue.select_option("#attr_SqsManagedSseEnabled", "false")
    queue.click("#attributes-button")
    expect(queue.locator("#queue-attributes")).to_contain_text("SSE-KMS with alias/signer")
    queue.fill("#id_body", "hello")
    queue.click("#send-button")
    expect(queue.locator("#send-form")).to_contain_text(
        "SQS encrypts with symmetric ENCRYPT_DECRYPT keys only")
    screenshot(queue, "invalid-key-usage")
