"""Accounts, roles and the password-less ways in for cluster members.

Secrets (API tokens, member links, join codes) are stored only as hashes: a copy of the
database must not let anyone act as a member or run a script as a user.

Table names avoid `user` and `grant`, which are reserved words in PostgreSQL and SQL.
"""

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.timeutil import UTCDateTime, timestamp

ROLES = ("agency", "facilitator", "observer")


class User(SQLModel, table=True):
    """Programme agency staff, facilitators and observers; cluster members have no account."""

    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    # Stored lower-cased by the service, so uniqueness is case-insensitive on both databases.
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=200)
    password_hash: str = Field(max_length=255)
    # Instance-wide: manages scorecard templates and sees every programme.
    is_admin: bool = False
    is_active: bool = True
    language: str | None = Field(default=None, max_length=10)
    # A change ends every session of the user and revokes every API token (app.auth.service.set_password).
    password_changed_at: datetime = timestamp()
    created_at: datetime = timestamp()


class Grant(SQLModel, table=True):
    """A role on one programme (agency, observer) or one cluster initiative (facilitator, observer).

    A unique constraint over (user_id, role, programme_id, cluster_id) would never fire, because
    one of the two scope columns is always NULL and NULLs are distinct in unique constraints on
    SQLite and PostgreSQL alike. Two partial unique indexes, one per scope, enforce it instead.
    """

    __tablename__ = "role_grant"
    __table_args__ = (
        CheckConstraint(
            "(role = 'agency' AND programme_id IS NOT NULL AND cluster_id IS NULL)"
            " OR (role = 'facilitator' AND cluster_id IS NOT NULL AND programme_id IS NULL)"
            " OR (role = 'observer' AND ((programme_id IS NULL AND cluster_id IS NOT NULL)"
            " OR (programme_id IS NOT NULL AND cluster_id IS NULL)))",
            name="role_scope",
        ),
        Index(
            "uq_role_grant_programme_scope",
            "user_id",
            "role",
            "programme_id",
            unique=True,
            sqlite_where=text("programme_id IS NOT NULL"),
            postgresql_where=text("programme_id IS NOT NULL"),
        ),
        Index(
            "uq_role_grant_cluster_scope",
            "user_id",
            "role",
            "cluster_id",
            unique=True,
            sqlite_where=text("cluster_id IS NOT NULL"),
            postgresql_where=text("cluster_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    role: str = Field(max_length=20)
    programme_id: int | None = Field(default=None, foreign_key="programme.id", index=True, ondelete="CASCADE")
    cluster_id: int | None = Field(default=None, foreign_key="cluster.id", index=True, ondelete="CASCADE")
    created_at: datetime = timestamp()


class ApiToken(SQLModel, table=True):
    """A personal Bearer token for scripts; shown once, then only its hash is kept."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = timestamp()
    last_used_at: datetime | None = timestamp(nullable=True)
    # Optional: a token for a one-off script should not stay valid for years.
    expires_at: datetime | None = timestamp(nullable=True)
    revoked_at: datetime | None = timestamp(nullable=True)


class LoginSession(SQLModel, table=True):
    """A staff user's logged-in browser. The browser holds a random key in its (signed) session cookie and the
    row, found by the key's hash, is what makes it valid: logging out, a password change or a deactivation ends
    the row, and a copied cookie is worth nothing from then on."""

    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    created_at: datetime = timestamp()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = timestamp(nullable=True)


class AccountLink(SQLModel, table=True):
    """A one-time link with which an invited staff user sets their own password: nobody else ever knows it.

    Only its hash is kept; it expires, and it is used up by the first password set with it."""

    __tablename__ = "account_link"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_by: str = Field(max_length=200)
    created_at: datetime = timestamp()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = timestamp(nullable=True)


class MemberLink(SQLModel, table=True):
    """A member's personal link (and QR code); reissuing revokes the old one."""

    __tablename__ = "member_link"

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = timestamp()
    expires_at: datetime | None = timestamp(nullable=True)
    revoked_at: datetime | None = timestamp(nullable=True)


class JoinCode(SQLModel, table=True):
    """A short code shown in a workshop room so people present can register for the round.

    The code is short enough to type, so it must expire: there is no default for expires_at.
    """

    __tablename__ = "join_code"

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(max_length=64, unique=True)
    created_by: int = Field(foreign_key="user_account.id", index=True)
    created_at: datetime = timestamp()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = timestamp(nullable=True)


class Registration(SQLModel, table=True):
    """A participant who registered themselves with a join code, so the facilitator can review them."""

    __tablename__ = "registration"
    __table_args__ = (UniqueConstraint("join_code_id", "participant_id"),)

    id: int | None = Field(default=None, primary_key=True)
    join_code_id: int = Field(foreign_key="join_code.id", index=True, ondelete="CASCADE")
    participant_id: int = Field(foreign_key="participant.id", index=True, ondelete="CASCADE")
    created_at: datetime = timestamp()


class RateLimitHit(SQLModel, table=True):
    """One failed attempt in a rate-limit bucket.

    Kept in the database, not in process memory, because several stateless app processes run
    behind a load balancer and an attacker's attempts are spread over all of them.
    """

    __tablename__ = "rate_limit_hit"
    # (bucket, at) answers "failures in this bucket since t" from the index alone;
    # the index on `at` alone serves the pruning of old hits.
    __table_args__ = (Index("ix_rate_limit_hit_bucket_at", "bucket", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    bucket: str = Field(max_length=300)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
