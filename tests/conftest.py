"""Shared fixtures: the Flatpeak sandbox and a Home Assistant with our integration."""

# Import our custom_components package before any fixture runs, so that the
# test harness's own (empty) custom_components package does not hide it.
import custom_components  # noqa: F401  # isort: skip

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import pytest

from flatpeak_sandbox import FlatpeakSandbox


@pytest.fixture
async def sandbox(socket_enabled: None) -> AsyncGenerator[FlatpeakSandbox]:
    """Run the Flatpeak sandbox on a free loopback port."""
    server = FlatpeakSandbox()
    await server.start()
    yield server
    await server.stop()


type SandboxFactory = Callable[..., Awaitable[FlatpeakSandbox]]


@pytest.fixture
async def make_sandbox(socket_enabled: None) -> AsyncGenerator[SandboxFactory]:
    """Start sandboxes with custom settings; every one is stopped afterwards."""
    started: list[FlatpeakSandbox] = []

    async def make(**kwargs: Any) -> FlatpeakSandbox:
        server = FlatpeakSandbox(**kwargs)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()
