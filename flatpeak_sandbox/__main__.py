"""Run the Flatpeak sandbox: ``python -m flatpeak_sandbox --port 8765``.

Without ``--device-id`` it knows the default device and the demo batteries
(``DEMO_DEVICES``); a demo device named with ``--device-id`` keeps its model.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .server import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_DEVICE_ID,
    DEFAULT_SECRET_KEY,
    DEMO_DEVICES,
    FlatpeakSandbox,
)


def build_sandbox(args: argparse.Namespace) -> FlatpeakSandbox:
    """Return the sandbox the command line asks for (not started)."""
    device_ids: list[str] = args.device_id or [DEFAULT_DEVICE_ID, *DEMO_DEVICES]
    sandbox = FlatpeakSandbox(
        account_id=args.account_id,
        secret_key=args.secret_key,
        device_ids=(),
        token_lifetime=args.token_lifetime,
        host=args.host,
        port=args.port,
    )
    for device_id in device_ids:
        sandbox.add_device(device_id, **DEMO_DEVICES.get(device_id, {}))
    return sandbox


async def _serve(args: argparse.Namespace) -> None:
    sandbox = build_sandbox(args)
    await sandbox.start()
    print(f"Flatpeak sandbox listening on {sandbox.url}", flush=True)
    print(f"  account id: {sandbox.account_id}", flush=True)
    print(f"  secret key: {sandbox.secret_key}", flush=True)
    for device_id, fields in sandbox.devices.items():
        print(
            f"  device id:  {device_id}  ({fields['manufacturer']} {fields['model']})",
            flush=True,
        )
    print(f"  received states and fault controls: {sandbox.url}/_sandbox", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sandbox.stop()


def parser() -> argparse.ArgumentParser:
    """Return the command line's parser."""
    result = argparse.ArgumentParser(description=__doc__)
    result.add_argument("--host", default="127.0.0.1")
    result.add_argument("--port", type=int, default=8765)
    result.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID)
    result.add_argument("--secret-key", default=DEFAULT_SECRET_KEY)
    result.add_argument("--device-id", action="append")
    result.add_argument("--token-lifetime", type=float, default=3600)
    return result


def main() -> None:
    """Parse the command line and serve until interrupted."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser().parse_args()))


if __name__ == "__main__":
    main()
