"""Run the Flatpeak sandbox: ``python -m flatpeak_sandbox --port 8765``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .server import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_DEVICE_ID,
    DEFAULT_SECRET_KEY,
    FlatpeakSandbox,
)


async def _serve(args: argparse.Namespace) -> None:
    sandbox = FlatpeakSandbox(
        account_id=args.account_id,
        secret_key=args.secret_key,
        device_ids=tuple(args.device_id or [DEFAULT_DEVICE_ID]),
        token_lifetime=args.token_lifetime,
        host=args.host,
        port=args.port,
    )
    await sandbox.start()
    print(f"Flatpeak sandbox listening on {sandbox.url}", flush=True)
    print(f"  account id: {sandbox.account_id}", flush=True)
    print(f"  secret key: {sandbox.secret_key}", flush=True)
    print(
        f"  device ids: {', '.join(args.device_id or [DEFAULT_DEVICE_ID])}", flush=True
    )
    print(f"  received states: {sandbox.url}/_sandbox", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sandbox.stop()


def main() -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID)
    parser.add_argument("--secret-key", default=DEFAULT_SECRET_KEY)
    parser.add_argument("--device-id", action="append")
    parser.add_argument("--token-lifetime", type=float, default=3600)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
