"""Portal mail goes out over SMTP to a real server (aiosmtpd on loopback), branded: the From
carries the group's product name and its sender address, or the platform's address."""

from __future__ import annotations

import email
import email.policy
import re
import socket

import pytest
from aiosmtpd.controller import Controller


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"


@pytest.fixture
def smtp(app, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(app.config["FUSION"], "SMTP_URL", f"smtp://127.0.0.1:{port}")
    yield inbox
    controller.stop()


@pytest.mark.parametrize(
    ("mail_sender", "expected_from"),
    [
        (None, "Acme Voice <fusion@localhost>"),
        ("noc@acme.example", "Acme Voice <noc@acme.example>"),
    ],
)
def test_invitation_is_sent_over_smtp_under_the_groups_brand(
    app, portal, make, smtp, mail_sender, expected_from
):
    branding = {"product_name": "Acme Voice", "hostnames": ["portal.acme.example"]}
    if mail_sender:
        branding["mail_sender"] = mail_sender
    group = make.group("Acme Telecom", **branding)
    client = portal(make.admin(group), host="portal.acme.example")
    client.get("/admins/new")
    invited = client.post(
        "/admins/new",
        {"email": "new.admin@example.test", "name": "New Admin", "role": "read_only"},
    )
    assert invited.status_code == 302, invited.get_data(as_text=True)[:500]
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["From"] == expected_from
    assert message["To"] == "new.admin@example.test"
    assert message["Subject"] == "Your Acme Voice administrator account"
    body = message.get_content()
    assert "Fusion" not in body and "Fusion" not in message["From"]
    assert re.search(r"http://portal\.acme\.example/set-password/\S+", body)
    assert smtp.envelopes[0][1] == ["new.admin@example.test"]
