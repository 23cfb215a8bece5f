"""Who is asking: a staff user (session cookie or API token), a cluster member (member link), or nobody."""

from dataclasses import dataclass, field

from app.auth.models import Grant, User
from app.clusters.models import Participant


@dataclass
class Principal:
    user: User | None = None
    participant: Participant | None = None
    grants: list[Grant] = field(default_factory=list)
    # Bearer API tokens carry no ambient credential, so requests made with them need no CSRF token.
    via_api_token: bool = False
    # Copied at load time: error pages render after the request's session has rolled back.
    name: str = ""

    def __post_init__(self) -> None:
        if self.user is not None:
            self.name = self.user.name
        elif self.participant is not None:
            self.name = self.participant.person_name or self.participant.organisation

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None or self.participant is not None

    @property
    def actor(self) -> str:
        """How the audit trail names this principal."""
        if self.user is not None:
            return f"user:{self.user.id}:{self.user.email}"
        if self.participant is not None:
            return f"participant:{self.participant.id}"
        return "anonymous"
