"""Email through the SMTP server the settings name: one connection for a batch (twenty members' links), plain text
in the recipient's language (the caller renders it). Nothing here retries or queues: a failure is the caller's
error, so the request that would have changed something changes nothing (its transaction rolls back)."""

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from app.config import Settings
from app.errors import MailUnavailable

log = logging.getLogger("clusterscore")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    language: str = "en"


def configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def _connect(settings: Settings) -> smtplib.SMTP:
    timeout = settings.smtp_timeout_seconds
    if settings.smtp_security == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        if settings.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
    if settings.smtp_username:
        smtp.login(settings.smtp_username, settings.smtp_password)
    return smtp


def _message(settings: Settings, mail: Mail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2].strip("> ") or None)
    message.set_content(mail.body)
    message["Content-Language"] = mail.language  # after set_content, which drops Content-* headers
    return message


def send(settings: Settings, mails: list[Mail]) -> None:
    """All of them over one connection, or MailUnavailable saying how far it got."""
    if not mails:
        return
    if not configured(settings):
        raise MailUnavailable("Email is not set up on this server (SMTP_HOST). Nothing was sent or changed.")
    sent = 0
    try:
        with _connect(settings) as smtp:
            for mail in mails:
                smtp.send_message(_message(settings, mail))
                sent += 1
    except (smtplib.SMTPException, OSError) as exc:
        # The reason goes to the log (it can name the server's internals), the person gets what to do.
        log.warning("mail: %s after %d of %d messages: %r", type(exc).__name__, sent, len(mails), exc)
        if sent == 0:
            raise MailUnavailable(
                "The mail server could not be reached or refused the message. Nothing was sent or changed; "
                "try again later or copy the links instead."
            ) from None
        raise MailUnavailable(
            "The mail server stopped after %(sent)s of %(total)s messages. Nothing was changed: the links in the "
            "messages already sent do not work. Send again when the mail server answers.",
            sent=sent,
            total=len(mails),
        ) from None
