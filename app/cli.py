"""The `clusterscore` command: validate and load templates, migrate, seed the demo."""

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session

from app import migrate
from app.auth import service as auth_service
from app.backup import service as backup_service
from app.config import ROOT, get_settings
from app.db import make_engine, open_session
from app.errors import AppError
from app.scorecards import parsing
from app.scorecards import service as scorecard_service


def _validate(args: argparse.Namespace) -> int:
    problems, warnings = parsing.validate_paths([Path(p) for p in args.paths])
    for warning in warnings:
        print(f"warning: {warning}")
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found.", file=sys.stderr)
        return 1
    print(f"{len(args.paths)} template file(s) valid.")
    return 0


def _schema(_args: argparse.Namespace) -> int:
    print(json.dumps(parsing.template_json_schema(), indent=2, ensure_ascii=False))
    return 0


def _session() -> Session:
    # As the writer from its first statement on SQLite: a command run beside the app's workers waits its turn.
    return open_session(make_engine(get_settings().database_url), writes=True)


def _templates(_args: argparse.Namespace) -> int:
    with _session() as session:
        versions = scorecard_service.list_versions(session)
    if not versions:
        print("No templates loaded. Run `clusterscore load-templates`.")
    for version in versions:
        print(f"{version.id:>4}  {version.key:<32} v{version.version:<8} {version.content_hash[:12]}  {version.title}")
    return 0


def _load_templates(_args: argparse.Namespace) -> int:
    settings = get_settings()
    with _session() as session:
        loaded = scorecard_service.load_directory(session, settings.scorecards_dir)
        session.commit()
    for version in loaded:
        print(f"loaded {version.key} v{version.version} ({version.content_hash[:12]})")
    if not loaded:
        print("Nothing new to load.")
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    migrate.upgrade(get_settings().database_url)
    print("Database is at the latest schema.")
    return 0


def _demo(_args: argparse.Namespace) -> int:
    from app import demo

    settings = get_settings()
    with _session() as session:
        scorecard_service.load_directory(session, settings.scorecards_dir)
        programme, created = demo.seed(session)
        logins = demo.seed_people(session, programme)
        links = demo.member_links(session, programme, base_url=settings.public_url)
        session.commit()
    print(("Seeded" if created else "Already seeded:") + f" {programme.name}")
    print(f"\nOpen {settings.public_url}/ and log in (password for every demo login: {demo.DEMO_PASSWORD}):")
    for email, role in logins:
        print(f"  {email:<34} {role}")
    print("\nPersonal member links (new links on every run; older ones stop working).")
    for answered, heading in ((False, "Not answered the open round yet:"), (True, "Already answered (results page):")):
        print(heading)
        for link in (link for link in links if link.answered == answered):
            print(f"  {_fit(link.cluster, 28)} {_fit(link.organisation, 28)} {link.url}")
    print(f"\nJSON API and its documentation: {settings.public_url}/docs")
    return 0


def _fit(text: str, width: int) -> str:
    """`text` in a column of `width`, cut with an ellipsis so that a cut name is not read as the next column's."""
    return (text if len(text) <= width else text[: width - 1].rstrip() + "…").ljust(width)


def _create_admin(args: argparse.Namespace) -> int:
    password = args.password or getpass.getpass("Password (at least 10 characters): ")
    with _session() as session:
        try:
            user = auth_service.create_user(session, email=args.email, name=args.name, password=password, is_admin=True)
        except AppError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        session.commit()
    print(f"Administrator {user.email} created.")
    return 0


# People and roles from a shell: an administrator's tool (no login), every change audited as "cli".
CLI_ACTOR = "cli"


def _invite(args: argparse.Namespace) -> int:
    """Prints the one-time link instead of emailing it: whoever runs this passes it on."""
    from app.people import mails
    from app.people import service as people_service

    with _session() as session:
        try:
            user, grant, token = people_service.invite(
                session,
                email=args.email,
                name=args.name or args.email.partition("@")[0],
                role=args.role,
                programme_id=args.programme,
                cluster_id=args.cluster,
                language=args.language,
                actor=CLI_ACTOR,
            )
        except AppError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        session.commit()
    print(f"{user.email}: {grant.role} (grant {grant.id})")
    if token:
        print(f"One-time link to set a password (valid 7 days): {mails.setup_url(get_settings(), token)}")
    return 0


def _grants(_args: argparse.Namespace) -> int:
    from app.people import mails
    from app.people import service as people_service

    with _session() as session:
        for person in people_service.people(session, programme_ids=None):
            for grant in person.grants:
                scope = ("programme", grant.programme_id) if grant.programme_id else ("cluster", grant.cluster_id)
                name = mails.scope_name(session, grant)
                print(f"{grant.id:>5}  {person.user.email:<34} {grant.role:<12} {scope[0]} {scope[1]} ({name})")
    return 0


def _change_role(args: argparse.Namespace) -> int:
    from app.people import service as people_service

    with _session() as session:
        try:
            people_service.change_role(
                session, people_service.get_grant(session, args.grant), args.role, actor=CLI_ACTOR
            )
        except AppError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        session.commit()
    print(f"Role changed to {args.role}.")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from app.people import service as people_service

    with _session() as session:
        try:
            people_service.revoke(session, people_service.get_grant(session, args.grant), actor=CLI_ACTOR)
        except AppError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        session.commit()
    print("Role revoked.")
    return 0


def _backup(args: argparse.Namespace) -> int:
    database_url = get_settings().database_url
    destination = args.file
    if destination is None:
        suffix = "db" if database_url.startswith("sqlite") else "dump"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        destination = ROOT / "var" / "backups" / f"clusterscore-{stamp}.{suffix}"
    try:
        written = backup_service.backup(database_url=database_url, destination=Path(destination))
    except backup_service.BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Backup written to {written} ({written.stat().st_size:,} bytes).")
    return 0


def _restore(args: argparse.Namespace) -> int:
    try:
        backup_service.restore(database_url=get_settings().database_url, source=Path(args.file), replace=args.replace)
    except backup_service.BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Restored {args.file}. Run `clusterscore migrate` if the backup is from an older version.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clusterscore", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check scorecard template files; exit 1 on any problem")
    validate.add_argument("paths", nargs="+")
    validate.set_defaults(run=_validate)
    commands.add_parser("schema", help="print the template format as JSON Schema").set_defaults(run=_schema)
    commands.add_parser("templates", help="list loaded template versions").set_defaults(run=_templates)
    commands.add_parser("load-templates", help="load new or changed files from scorecards/").set_defaults(
        run=_load_templates
    )
    commands.add_parser("migrate", help="upgrade the database to the latest schema").set_defaults(run=_migrate)
    commands.add_parser("demo", help="seed the demo programme (idempotent)").set_defaults(run=_demo)
    admin = commands.add_parser("create-admin", help="create an instance administrator")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", default="Administrator")
    admin.add_argument("--password", help="omit to be asked (keeps it out of the shell history)")
    admin.set_defaults(run=_create_admin)
    invite = commands.add_parser("invite", help="give a role to an email address; prints a new account's password link")
    invite.add_argument("--email", required=True)
    invite.add_argument("--name", default="")
    invite.add_argument("--role", required=True, choices=["agency", "facilitator", "observer"])
    scope = invite.add_mutually_exclusive_group(required=True)
    scope.add_argument("--programme", type=int, help="programme id (agency, observer)")
    scope.add_argument("--cluster", type=int, help="cluster initiative id (facilitator, observer)")
    invite.add_argument("--language", help="of the account: en, es, pt, th")
    invite.set_defaults(run=_invite)
    commands.add_parser("grants", help="list every role: grant id, email, role, scope").set_defaults(run=_grants)
    change = commands.add_parser("change-role", help="another role on the same programme or cluster")
    change.add_argument("grant", type=int)
    change.add_argument("role", choices=["agency", "facilitator", "observer"])
    change.set_defaults(run=_change_role)
    revoke = commands.add_parser("revoke", help="take a role away (grant id from `grants`)")
    revoke.add_argument("grant", type=int)
    revoke.set_defaults(run=_revoke)
    backup = commands.add_parser("backup", help="write a consistent copy of the database (safe while the app runs)")
    backup.add_argument("file", nargs="?", help="where to write it (default: var/backups/clusterscore-<time>)")
    backup.set_defaults(run=_backup)
    restore = commands.add_parser("restore", help="bring a backup back (stop the app first)")
    restore.add_argument("file")
    restore.add_argument("--replace", action="store_true", help="overwrite a database that has data in it")
    restore.set_defaults(run=_restore)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
