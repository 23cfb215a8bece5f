"""Who is asking over OpenRosa, and what they sent.

Two kinds of device speak OpenRosa here, and neither uses the session cookie, so a forged cross-site
request carries no credential (verify_csrf exempts the /openrosa/ prefix):
- a member's phone: `/openrosa/m/{token}`, the token of their personal link being the credential (a
  capability URL, like /m/{token}). A token that is unknown, revoked or expired answers 401 with a
  `Bearer` challenge (RFC 6750, error="invalid_token"): typing a user name and password cannot help,
  only a new link can, which the message says;
- a staff device collecting for the cluster's members (an enumerator): `/openrosa/clusters/{id}`
  with HTTP Basic credentials, the staff member's email and password or one of their API tokens.
  Without them, or with wrong ones, it answers 401 with a `Basic` challenge, so Collect asks for them.
"""

import base64
import binascii
from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import Depends, Request
from starlette.formparsers import MultiPartException, MultiPartParser

from app.auth import policy
from app.auth import service as auth_service
from app.auth.deps import FailedAttemptsDep
from app.auth.principal import Principal
from app.clusters import service as clusters
from app.clusters.models import Participant
from app.db import SAFE_METHODS
from app.deps import MAX_ID, SessionDep
from app.errors import NotFound, TooLarge, Unauthorized
from app.interop.openrosa import MAX_SUBMISSION_BYTES, OPENROSA_VERSION, SubmissionRejected
from app.interop.service import Device

XML_PART = "xml_submission_file"


async def openrosa_version(request: Request) -> None:
    """OpenRosa clients say which version they speak; ODK Central refuses a request that does not."""
    given = request.headers.get("X-OpenRosa-Version")
    if given != OPENROSA_VERSION:
        raise SubmissionRejected(
            "An expected header field (X-OpenRosa-Version) did not match the expected format (got: %(value)s).",
            value=given or "nothing",
        )


def device(request: Request, session: SessionDep, attempts: FailedAttemptsDep) -> Device:
    token = request.path_params.get("token")
    if token is not None:
        return _member_device(session, token)
    cluster_id = request.path_params["cluster_id"]
    if not cluster_id.isdigit() or int(cluster_id) > MAX_ID:
        raise NotFound("No such cluster.")
    return _staff_device(request, session, int(cluster_id), attempts)


def _member_device(session: SessionDep, token: str) -> Device:
    participant_id = auth_service.participant_for_token(session, token)
    participant = session.get(Participant, participant_id) if participant_id is not None else None
    if participant is None:
        raise Unauthorized("This member link is not valid (any more). Ask your facilitator for a new one.")
    cluster = clusters.get_cluster(session, participant.cluster_id)
    return Device(cluster=cluster, member=participant, actor=f"participant:{participant.id}")


def _staff_device(
    request: Request, session: SessionDep, cluster_id: int, attempts: auth_service.FailedAttempts
) -> Device:
    """A wrong password counts against the login rate limit, on a GET too (FailedAttempts records it in a
    transaction of its own): an uncounted guess would be a free one."""
    email, password = _basic_credentials(request)
    if password.startswith("cs_"):
        record_use = request.method not in SAFE_METHODS
        user = auth_service.user_for_api_token(session, password, record_use=record_use)
        if user is None or user.email != auth_service.normalise_email(email):
            raise Unauthorized(auth_service.WRONG_LOGIN)
    else:
        client_ip = request.client.host if request.client else "unknown"
        user = auth_service.authenticate(
            session, email=email, password=password, client_ip=client_ip, attempts=attempts
        )
    principal = Principal(user=user, grants=auth_service.grants_of(session, user))
    cluster = clusters.get_cluster(session, cluster_id)
    policy.require(principal, cluster, "manage")
    return Device(cluster=cluster, member=None, actor=principal.actor)


def _basic_credentials(request: Request) -> tuple[str, str]:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized("Log in with your ClusterScore email and password, or an API token as the password.")
    try:
        email, colon, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        email, colon, password = "", "", ""
    if not colon or not email or not password:
        raise Unauthorized(auth_service.WRONG_LOGIN)
    return email, password


DeviceDep = Annotated[Device, Depends(device)]


async def _body_up_to_limit(request: Request) -> AsyncGenerator[bytes]:
    """The request body, refused (413) as soon as it passes the size every reply announces."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > MAX_SUBMISSION_BYTES:
            raise TooLarge(
                "The submission is larger than the %(size)s bytes this server accepts.", size=MAX_SUBMISSION_BYTES
            )
        yield chunk


async def submitted_xml(request: Request) -> bytes:
    """The xml_submission_file part of a submission; other parts (attachments) are not kept: ClusterScore's
    forms have no media questions. Read as it arrives, never beyond the announced size."""
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_SUBMISSION_BYTES:
        raise TooLarge(
            "The submission is larger than the %(size)s bytes this server accepts.", size=MAX_SUBMISSION_BYTES
        )
    if not request.headers.get("Content-Type", "").startswith("multipart/form-data"):
        raise SubmissionRejected("Send the submission as multipart/form-data, the XML as xml_submission_file.")
    try:
        form = await MultiPartParser(request.headers, _body_up_to_limit(request)).parse()
    except MultiPartException as exc:
        raise SubmissionRejected("The submission could not be read (%(problem)s).", problem=exc.message) from None
    part = form.get(XML_PART)
    if part is None or isinstance(part, str):
        raise SubmissionRejected("Required multipart POST field xml_submission_file missing.")
    xml = await part.read()
    await form.close()
    return xml


SubmittedXml = Annotated[bytes, Depends(submitted_xml)]
