from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from app.deps import PathId, SessionDep
from app.scorecards import service

router = APIRouter(tags=["templates"])


class TemplateVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    key: str
    version: str
    title: str
    content_hash: str
    source_file: str | None


class TemplateVersionDetail(TemplateVersionRead):
    spec: dict[str, Any]


@router.get("/templates", response_model=list[TemplateVersionRead])
def list_templates(session: SessionDep, key: str | None = None) -> Any:
    """Public, like the YAML files in the repository they come from."""
    return service.list_versions(session, key=key)


@router.get("/templates/{version_id}", response_model=TemplateVersionDetail)
def get_template(version_id: PathId, session: SessionDep) -> Any:
    return service.get_version(session, version_id)
