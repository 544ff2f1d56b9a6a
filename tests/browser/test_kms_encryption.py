"""The seed note's encryption lesson: a queue sealed with the learner's own KMS key, the
ciphertext the database holds, what disabling the key does to a send (once the data key
reuse period ends), the KMS request quota, and an account opted out of KMS."""

from __future__ import annotations

import boto3
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LIVE

pytestmark = pytest.mark.browser


def create_key(page, alias: str, *, key_type: str | None = None) -> None:
    """Create a key on the workspace page's KMS card."""
    page.fill("#kms_alias", alias)
    if key_type:
        page.select_option("#kms_type", key_type)
    page.click("#create-key-button")


def encrypt_with(queue, alias: str, **attributes: str) -> None:
    """Turn SSE-KMS on with the queue page's attribute form (and set other attributes)."""
    queue.click("#edit-attributes summary")
    queue.fill("#attr_KmsMasterKeyId", alias)
    for name, value in attributes.items():
        queue.fill(f"#attr_{name}", value)
    queue.select_option("#attr_SqsManagedSseEnabled", "false")
    queue.click("#attributes-button")
    expect(queue.locator("#queue-attributes")).to_contain_text(f"SSE-KMS with {alias}")


def test_a_disabled_kms_key_stops_sends_after_the_reuse_period_and_the_database_holds_ciphertext(
    workspace_page, screenshot
):
    ws = workspace_page
    page = ws.page
    ws.create_queue("payments")
    create_key(page, "alias/payments")
    expect(page.locator("tr.kms-key")).to_have_count(1)
    expect(page.locator("tr.kms-key")).to_contain_text("alias/payments")

    queue = ws.open("queues/payments/")
    encrypt_with(queue, "alias/payments", KmsDataKeyReusePeriodSeconds="60")
    expect(queue.locator("#attributes-form .note")).to_contain_text("KmsMasterKeyId")

    queue.fill("#id_body", "card 4111 1111 1111 1111")
    queue.click("#send-button")
    expect(queue.locator("#sent-note")).to_be_visible()
    # SQS asked KMS for the console's data key, and the workspace page shows it live.
    expect(page.locator("#kms-requests li").first).to_contain_text(
        "GenerateDataKey + Decrypt for console on payments"
    )
    expect(page.locator('tr.kms-key [data-requests="generate"]')).to_have_text("1")
    screenshot(page, "kms-requests")
    queue.locator("#sent-note a").click()
    expect(queue.locator("pre.body").first).to_have_text("card 4111 1111 1111 1111")
    expect(queue.locator("#ciphertext")).not_to_contain_text("4111")
    screenshot(queue, "message")

    page.locator("tr.kms-key button").click()
    expect(page.locator("tr.kms-key")).to_have_attribute("data-state", "disabled")
    queue.goto(ws.url + "queues/payments/")
    expect(queue.locator("#live-status.on")).to_be_visible(timeout=LIVE)
    expect(queue.locator("tr.message-row .locked")).to_contain_text("Cannot be decrypted")
    # Within the reuse period SQS seals with the console's cached data key: KMS is not asked.
    queue.fill("#id_body", "another card")
    queue.click("#send-button")
    expect(queue.locator("#sent-note")).to_be_visible()
    ws.set_speed("100")
    queue.wait_for_timeout(1000)  # 100 simulated seconds: past the 60 s reuse period
    queue.fill("#id_body", "a third card")
    queue.click("#send-button")
    expect(queue.locator("#send-form")).to_contain_text("is not enabled")
    screenshot(queue, "disabled")


def test_a_kms_quota_of_one_throttles_a_new_data_key(workspace_page, screenshot):
    ws = workspace_page
    page = ws.page
    ws.create_queue("audit")
    create_key(page, "alias/audit")
    expect(page.locator("tr.kms-key")).to_have_count(1)
    page.fill("#kms_quota", "1")
    page.click("#kms-quota-button")
    expect(page.locator("#kms-quota-form .errorlist")).to_have_count(0)
    expect(page.locator("#kms_quota")).to_have_value("1")

    queue = ws.open("queues/audit/")
    encrypt_with(queue, "alias/audit")
    queue.fill("#id_body", "login at 09:00")
    queue.click("#send-button")
    expect(queue.locator("#send-form")).to_contain_text("KMS throttled the request")
    screenshot(queue, "kms-throttled")


def test_a_live_push_to_the_kms_card_keeps_what_the_learner_is_typing(workspace_page):
    ws = workspace_page
    page = ws.page
    page.fill("#kms_alias", "alias/half-typed")
    page.fill("#kms_quota", "7")
    kms = boto3.client(
        "kms",
        endpoint_url=ws.endpoint,
        region_name=ws.region,
        aws_access_key_id=ws.access_key,
        aws_secret_access_key=ws.secret,
    )
    kms.create_key(Description="made by boto3 while the learner types")
    # The key arrives over the live socket; the forms beside it are left alone.
    expect(page.locator("tr.kms-key")).to_have_count(1, timeout=LIVE)
    expect(page.locator("#kms_alias")).to_have_value("alias/half-typed")
    expect(page.locator("#kms_quota")).to_have_value("7")
    page.click("#kms-quota-button")
    expect(page.locator("#kms-quota-form .errorlist")).to_have_count(0)
    expect(page.locator("#kms_quota")).to_have_value("7")


def test_a_signing_key_is_listed_with_its_type_and_refused_for_a_queue(workspace_page, screenshot):
    ws = workspace_page
    page = ws.page
    ws.create_queue("signed")
    create_key(page, "alias/signer", key_type="RSA_2048/SIGN_VERIFY")
    expect(page.locator("tr.kms-key .key-type")).to_have_text("RSA_2048SIGN_VERIFY")
    screenshot(page, "kms-keys")

    queue = ws.open("queues/signed/")
    encrypt_with(queue, "alias/signer")
    queue.fill("#id_body", "hello")
    queue.click("#send-button")
    expect(queue.locator("#send-form")).to_contain_text(
        "SQS encrypts with symmetric ENCRYPT_DECRYPT keys only"
    )
    screenshot(queue, "invalid-key-usage")


def test_an_account_opted_out_of_kms_cannot_send_to_a_kms_queue(workspace_page, screenshot):
    ws = workspace_page
    page = ws.page
    ws.create_queue("payroll")
    create_key(page, "alias/payroll")
    expect(page.locator("tr.kms-key")).to_have_count(1)
    page.click("#kms-opt-in-button")
    expect(page.locator("#kms-opt-in-form")).to_contain_text("is not opted in to AWS KMS")
    screenshot(page, "kms-opted-out")

    queue = ws.open("queues/payroll/")
    encrypt_with(queue, "alias/payroll")
    queue.fill("#id_body", "salary run")
    queue.click("#send-button")
    expect(queue.locator("#send-form")).to_contain_text("not opted in to AWS KMS")
    screenshot(queue, "kms-opt-in-required")

    page.click("#kms-opt-in-button")
    expect(page.locator("#kms-opt-in-form")).to_contain_text("is opted in to AWS KMS")
    queue.click("#send-button")
    expect(queue.locator("#sent-note")).to_be_visible()


def test_a_lambda_trigger_on_a_queue_whose_key_is_disabled_shows_why_it_cannot_poll(
    workspace_page, screenshot
):
    ws = workspace_page
    page = ws.page
    ws.create_queue("payslips")
    create_key(page, "alias/payslips")
    expect(page.locator("tr.kms-key")).to_have_count(1)
    queue = ws.open("queues/payslips/")
    encrypt_with(queue, "alias/payslips")
    queue.fill("#id_body", "payslip for March")
    queue.click("#send-button")
    expect(queue.locator("#sent-note")).to_be_visible()
    queue.close()

    page.locator("tr.kms-key button").click()
    expect(page.locator("tr.kms-key")).to_have_attribute("data-state", "disabled")
    ws.create_function("PayslipMailer", duration=1, timeout=3)
    ws.add_trigger("payslips", "PayslipMailer", batch_size=10)
    # The poller's receive needs a data key from the disabled key: it says so, and waits.
    problem = page.locator("article.function p.poll-error")
    expect(problem).to_have_text("Cannot poll payslips: KmsDisabled", timeout=LIVE)
    expect(page.locator("#triggers .poll-error")).to_have_text("polling fails: KmsDisabled")
    screenshot(page, "cannot-poll")

    page.locator("tr.kms-key button").click()  # enable: the next poll receives the payslip
    expect(problem).to_have_count(0, timeout=LIVE)
    expect(page.locator('article.function [data-count="last"]')).to_have_text(
        "Succeeded", timeout=LIVE
    )
