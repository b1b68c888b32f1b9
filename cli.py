"""The ``tessera`` command: serve, migrate, key management and trusted documents."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from service.access import generate_api_key
from service.errors import InvalidInput, StartupError, TesseraError
from service.settings import Settings, load_settings
from service.tessera import Tessera, migrate
from service.validation import Kind, require


def _check_arguments(args: argparse.Namespace) -> None:
    """Command-line values enter Tessera too (undecodable bytes arrive as lone
    surrogates): the edge rule applies to them as to the API's arguments."""
    envs = getattr(args, "env", None) or ()
    if isinstance(envs, str):
        envs = (envs,)
    values = [
        ("--name", getattr(args, "name", None)),
        ("--product", getattr(args, "product", None)),
    ]
    for flag, value in [*values, *(("--env", env) for env in envs)]:
        if value is not None:
            require(value, Kind.NAME, flag)


async def _create_key(settings: Settings, args: argparse.Namespace) -> str:
    _check_arguments(args)
    tessera = await Tessera.start(settings, bootstrap_admin=False)
    try:
        if args.command == "create-admin-key":
            key, _ = await tessera.access.create_admin_key(args.name)
        else:
            key, _ = await tessera.access.create_api_key(args.product, args.env, args.name)
        return key
    finally:
        await tessera.close()


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _read_manifest(path: Path) -> object:
    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, RecursionError):
        raise InvalidInput(f"{path} is not JSON") from None


async def _register_documents(settings: Settings, manifest: object, name: str) -> int:
    """Register a manifest's documents as trusted; the number registered."""
    tessera = await Tessera.start(settings, bootstrap_admin=False)
    try:
        return await tessera.documents.register_manifest(manifest, field=name)
    finally:
        await tessera.close()


async def _rotate_keys(settings: Settings, args: argparse.Namespace) -> str:
    """Rotate one ring; a line per key (ids and states, never material)."""
    _check_arguments(args)
    tessera = await Tessera.start(settings, bootstrap_admin=False)
    try:
        ring = await tessera.rotation.rotate(
            args.product, args.env, retire_previous=args.retire_previous
        )
    finally:
        await tessera.close()
    lines = [f"rotated the keys of {ring.product}/{ring.env}:"]
    for key in ring.keys:
        until = "" if key.retire_at is None else f" {_WHEN[key.state]} {_utc(key.retire_at)}"
        lines.append(f"  {key.kid}  {key.alg:<11}  {key.state}{until}")
    return "\n".join(lines)


async def _rotate_master_key(settings: Settings) -> str:
    if settings.master_key_previous is None:
        raise InvalidInput(
            "set TESSERA_MASTER_KEY to the new key and TESSERA_MASTER_KEY_PREVIOUS to the "
            "one it replaces"
        )
    tessera = await Tessera.start(settings, bootstrap_admin=False)
    try:
        count = await tessera.rotate_master_key()
    finally:
        await tessera.close()
    return f"re-wrapped {count} keys under the new master key"


_WHEN = {"verify_only": "until", "retired": "since"}


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tessera", description="Tessera session service")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_command = commands.add_parser("serve", help="serve the GraphQL API (TESSERA_* settings)")
    serve_command.add_argument(
        "--workers",
        type=_positive,
        help="worker processes (default TESSERA_WORKERS, else one per CPU in production, "
        "one in development)",
    )
    commands.add_parser("migrate", help="apply pending database migrations")
    commands.add_parser(
        "generate-key", help="print a new random key, e.g. for TESSERA_ADMIN_KEY (stores nothing)"
    )
    admin = commands.add_parser("create-admin-key", help="store a new admin key and print it once")
    admin.add_argument("--name", default="admin")
    product = commands.add_parser(
        "create-api-key", help="store a new product key and print it once"
    )
    product.add_argument("--product", required=True)
    product.add_argument("--env", action="append", help="limit to this env (repeatable)")
    product.add_argument("--name", default="backend")
    documents = commands.add_parser(
        "register-documents",
        help="register a manifest's documents as trusted (Apollo persisted query manifest, "
        "or GraphQL Code Generator's persisted-documents.json)",
    )
    documents.add_argument("file", type=Path)
    rotate = commands.add_parser(
        "rotate-keys",
        help="rotate the keys of a product's env: new keys mint from now on, the previous "
        "ones verify until their last token has expired",
    )
    rotate.add_argument("--product", required=True)
    rotate.add_argument("--env", required=True)
    rotate.add_argument(
        "--retire-previous",
        action="store_true",
        help="retire the previous keys at once (a compromised key): their tokens stop verifying",
    )
    commands.add_parser(
        "rotate-master-key",
        help="re-wrap every key under TESSERA_MASTER_KEY, with the key it replaces in "
        "TESSERA_MASTER_KEY_PREVIOUS",
    )
    args = parser.parse_args(argv)

    if args.command == "generate-key":
        # Needs no settings: it is what an operator runs when TESSERA_ADMIN_KEY is
        # missing or rejected, so it must work while the environment is still invalid.
        print(generate_api_key())
        return 0

    settings = load_settings()
    if args.command == "serve":
        # Imported here: importing the server builds the app from the environment.
        from server import serve

        return serve(settings, workers=args.workers)
    if args.command == "register-documents":
        try:
            manifest = _read_manifest(args.file)
            count = asyncio.run(_register_documents(settings, manifest, args.file.name))
        except InvalidInput as exc:
            listed = exc.field_errors if len(exc.field_errors) > 1 else ()
            details = "".join(f"\n  {e.field}: {e.message}" for e in listed)
            print(f"tessera: {exc}{details}", file=sys.stderr)
            return 2
        except StartupError as exc:
            print(exc.line(), file=sys.stderr)
            return 2
        print(f"registered {count} trusted documents")
        return 0
    try:
        if args.command == "migrate":
            version = asyncio.run(migrate(settings))
            print(f"database at schema version {version}")
            return 0
        if args.command == "rotate-keys":
            print(asyncio.run(_rotate_keys(settings, args)))
            return 0
        if args.command == "rotate-master-key":
            print(asyncio.run(_rotate_master_key(settings)))
            return 0
        key = asyncio.run(_create_key(settings, args))
    except StartupError as exc:
        print(exc.line(), file=sys.stderr)
        return 2
    except TesseraError as exc:
        print(f"tessera: {exc}", file=sys.stderr)
        return 2
    print(key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
