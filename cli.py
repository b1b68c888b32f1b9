"""The ``tessera`` command: serve, migrate, create-admin-key."""

from __future__ import annotations

import argparse
import asyncio
import sys

from service.access import generate_api_key
from store import open_store


async def _migrate(url: str) -> int:
    store = open_store(url)
    try:
        return await store.migrate()
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tessera", description="Tessera session service")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the GraphQL API (TESSERA_* settings)")
    commands.add_parser("migrate", help="apply pending database migrations")
    commands.add_parser("create-admin-key", help="print a new random value for TESSERA_ADMIN_KEY")
    args = parser.parse_args(argv)

    if args.command == "create-admin-key":
        # Needs no settings: it is what an operator runs when TESSERA_ADMIN_KEY is
        # missing or rejected, so it must work while the environment is still invalid.
        print(generate_api_key())
        return 0

    # Imported here: importing the server builds the app from the environment.
    from server import load_settings, serve

    settings = load_settings()
    if args.command == "serve":
        return serve(settings)
    version = asyncio.run(_migrate(settings.resolved_database_url))
    print(f"database at schema version {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
