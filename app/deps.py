"""FastAPI dependencies shared by every domain's routes."""

from typing import Annotated

from fastapi import Depends, Path, Request
from sqlmodel import Session

from app.config import Settings
from app.db import get_session

# scope="function": commit (or roll back) before the response is sent, so a client never sees
# success for a write that then failed to commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


# Row ids are 32-bit integer columns (PostgreSQL `integer`): a larger id in a path can name nothing, and
# passing it to the database would fail there (SQLite: OverflowError; PostgreSQL: out of range) as a 500.
MAX_ID = 2_147_483_647
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
