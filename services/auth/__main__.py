"""`python -m services.auth` serves; `python -m services.auth bootstrap ...` prepares accounts."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import logging
import sys

from services.common import launch
from services.common.config import ConfigError
from services.common.errors import DomainError


async def _bootstrap(args: argparse.Namespace) -> dict[str, object]:
    from services.auth import config
    from services.auth.server import start

    service = await start(config.load())
    try:
        identity = service.app
        admin, admin_key = await identity.bootstrap_account(
            args.admin_username, args.admin_email, "admin", fresh_key=args.new_admin_key
        )
        services: dict[str, str | None] = {}
        for name in args.service:
            _user, key = await identity.bootstrap_account(f"svc-{name}", None, "service", fresh_key=False)
            services[name] = key
        # Let the relay publish the user.created events before stopping.
        while await service.runtime.relay.publish_pending():
            pass
        return {"admin": {"username": admin.username, "api_key": admin_key}, "services": services}
    finally:
        await service.runtime.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.auth")
    sub = parser.add_subparsers(dest="command")
    boot = sub.add_parser("bootstrap", help="create the first admin and the service accounts if missing")
    boot.add_argument("--admin-username", default="admin")
    boot.add_argument("--admin-email", default="admin@localhost.localdomain")
    boot.add_argument("--service", action="append", default=[])
    boot.add_argument("--new-admin-key", action="store_true", help="make a fresh API key for the admin")
    args = parser.parse_args(argv)
    try:
        if args.command == "bootstrap":
            logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
            # The launcher gives up after 120 s; a bootstrap still running at 100 s writes where it
            # stands to its log (stderr) first.
            faulthandler.dump_traceback_later(100, exit=False)
            print(json.dumps(asyncio.run(_bootstrap(args))))
            return 0
        return launch.main("auth")
    except (ConfigError, DomainError) as exc:
        print(f"auth: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
