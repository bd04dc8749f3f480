"""Outgoing mail for the portal (invitations, password resets), sent by a job.

Without FUSION_SMTP_URL the message is written to the log (the embedded default)."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from urllib.parse import unquote, urlsplit

from flask import current_app

from fusion_core.db import session
from fusion_core.jobs import JobDefinition, enqueue

log = logging.getLogger("webui.mail")
JOB = "portal.send_mail"


def sender_for(brand) -> str:
    """The From of a branded group's mail: its mail sender, or the platform's address, under
    the group's product name, so no other name (Fusion's) shows in the recipient's inbox."""
    address = brand.mail_sender or current_app.config["FUSION"]["MAIL_SENDER"]
    name, email = parseaddr(address)
    return formataddr((name or brand.product_name, email or address))


def queue_mail(to: str, subject: str, body: str, sender: str | None = None) -> None:
    """Send after the current transaction commits (never inside the request)."""
    enqueue(session, JOB, to=to, subject=subject, body=body, sender=sender)


def send_mail(to: str, subject: str, body: str, sender: str | None = None) -> None:
    settings = current_app.config["FUSION"]
    message = EmailMessage()
    message["From"] = sender or settings["MAIL_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    url = settings["SMTP_URL"]
    if not url:
        log.warning("mail (no FUSION_SMTP_URL set, not sent):\n%s", message)
        return
    parts = urlsplit(url)
    smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with smtp_class(parts.hostname or "localhost", parts.port or 0, timeout=30) as smtp:
        if parts.scheme == "smtp+starttls":
            smtp.starttls()
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message)


MAIL_JOB = JobDefinition(name=JOB, func=send_mail, max_attempts=5)
