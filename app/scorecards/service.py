"""Loading templates into the database as immutable versions, and reading them back."""

import logging
from pathlib import Path

from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.errors import NotFound
from app.scorecards.models import TemplateVersion
from app.scorecards.parsing import TemplateInvalid, content_hash, load_template_file
from app.scorecards.schema import TemplateSpec, localize

log = logging.getLogger(__name__)


def load_spec(session: Session, spec: TemplateSpec, *, source_file: str | None = None) -> TemplateVersion | None:
    """Store `spec` unless identical content is already loaded; returns the new version or None."""
    digest = content_hash(spec)
    existing = session.exec(
        select(TemplateVersion).where(TemplateVersion.key == spec.key, TemplateVersion.content_hash == digest)
    ).first()
    if existing is not None:
        return None
    version = TemplateVersion(
        key=spec.key,
        version=spec.version,
        title=(localize(spec.title, spec.languages[0], spec.languages[0]) or spec.key)[:300],
        content_hash=digest,
        spec=spec.model_dump(mode="json"),
        source_file=source_file,
    )
    # A savepoint, so that two app processes starting together cannot fail each other:
    # the loser of the race hits the unique constraint and simply finds the row there.
    try:
        with session.begin_nested():
            session.add(version)
    except IntegrityError:
        return None
    return version


def load_directory(session: Session, directory: Path) -> list[TemplateVersion]:
    """Load new or changed *.yaml files; an unchanged file loads nothing, a broken one is reported and skipped."""
    loaded = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            spec, _digest = load_template_file(path)
        except TemplateInvalid as exc:
            for problem in exc.problems:
                log.error("scorecard template not loaded: %s", problem)
            continue
        version = load_spec(session, spec, source_file=path.name)
        if version is not None:
            loaded.append(version)
    return loaded


def list_versions(session: Session, *, key: str | None = None) -> list[TemplateVersion]:
    statement = select(TemplateVersion).order_by(col(TemplateVersion.key), col(TemplateVersion.id))
    if key is not None:
        statement = statement.where(TemplateVersion.key == key)
    return list(session.exec(statement))


def get_version(session: Session, version_id: int) -> TemplateVersion:
    version = session.get(TemplateVersion, version_id)
    if version is None:
        raise NotFound("No such template version.")
    return version


def latest_version(session: Session, key: str) -> TemplateVersion:
    version = session.exec(
        select(TemplateVersion).where(TemplateVersion.key == key).order_by(col(TemplateVersion.id).desc())
    ).first()
    if version is None:
        raise NotFound("No template with key '%(key)s' is loaded.", key=key)
    return version


# Versions are immutable, so a parsed spec can be kept per content hash for the process's life.
_parsed_specs: dict[str, TemplateSpec] = {}


def spec_of(version: TemplateVersion) -> TemplateSpec:
    spec = _parsed_specs.get(version.content_hash)
    if spec is None:
        spec = _parsed_specs[version.content_hash] = TemplateSpec.model_validate(version.spec)
    return spec


_CONTENT_HASH = select(TemplateVersion.content_hash).where(TemplateVersion.id == bindparam("version_id"))
_LATEST = (
    select(TemplateVersion.id, TemplateVersion.content_hash)
    .where(TemplateVersion.key == bindparam("key"))
    .order_by(col(TemplateVersion.id).desc())
    .limit(1)
)
_KEY = select(TemplateVersion.key).where(TemplateVersion.id == bindparam("version_id"))


def spec_of_version(session: Session, version_id: int) -> TemplateSpec:
    """Without reading the version's JSON (tens of kilobytes) when this process has parsed it before: pages
    that score a round need the spec's rules on every request (the thank-you page, the live dashboard)."""
    content_hash = session.exec(_CONTENT_HASH, params={"version_id": version_id}).first()
    if content_hash is None:
        raise NotFound("No such template version.")
    return _cached_spec(session, version_id, content_hash)


def latest_spec(session: Session, key: str) -> TemplateSpec:
    """The spec of the template's newest version, read as spec_of_version reads one (the benchmark views)."""
    latest = session.exec(_LATEST, params={"key": key}).first()
    if latest is None:
        raise NotFound("No template with key '%(key)s' is loaded.", key=key)
    version_id, content_hash = latest
    assert version_id is not None
    return _cached_spec(session, version_id, content_hash)


def _cached_spec(session: Session, version_id: int, content_hash: str) -> TemplateSpec:
    return _parsed_specs.get(content_hash) or spec_of(get_version(session, version_id))


def key_of_version(session: Session, version_id: int) -> str:
    key = session.exec(_KEY, params={"version_id": version_id}).first()
    if key is None:
        raise NotFound("No such template version.")
    return key
