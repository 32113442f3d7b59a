"""The node's local WS-MAN channel to its own AMT: Intel LMS when it runs, else LME in-process.

As rpc-go decides (reference ``amt.md`` §1.13 "LMS detection"): a TCP connect to LMS
(127.0.0.1:16992 unless told otherwise). Refused (or unroutable) means no LMS: mewarden then
speaks APF over the LME MEI client itself (:mod:`mewarden.host.lme`). A connect that hangs means
an LMS that is up but not ready, and since LMS holds the LME client (MEI allows one), there is no
fallback: that is an error naming LMS.

Either way the caller gets :class:`~mewarden.amt.client.AmtClient` objects, unchanged: over LMS
they are plain TCP clients; over LME their connections are APF channels.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from mewarden.amt.client import AmtClient, Endpoint
from mewarden.errors import AmtUnreachableError
from mewarden.host.lme import LmeSession, connect_lme
from mewarden.secret import Secret

LMS_DEFAULT = ("127.0.0.1", 16992)
LMS_PROBE_TIMEOUT_S = 5.0
WSMAN_TIMEOUT_S = 20.0


@dataclass(slots=True)
class LocalChannel:
    """Where local WS-MAN goes: ``kind`` is ``"lms"`` or ``"lme"``."""

    kind: str
    label: str
    lms: tuple[str, int] | None = None
    lme: LmeSession | None = None

    def client(self, username: str, password: Secret) -> AmtClient:
        """A WS-MAN client on this channel (retries off: activation calls are not idempotent)."""
        if self.lms is not None:
            host, port = self.lms
            endpoint = Endpoint(
                host=host,
                port=port,
                username=username,
                password=password,
                timeout_s=WSMAN_TIMEOUT_S,
                retries=0,
            )
            return AmtClient(endpoint)
        assert self.lme is not None
        endpoint = Endpoint(
            host="127.0.0.1",
            username=username,
            password=password,
            timeout_s=WSMAN_TIMEOUT_S,
            retries=0,
        )
        return AmtClient(endpoint, open_stream=self.lme.open_stream)


async def lms_listening(host: str, port: int, timeout_s: float | None = None) -> bool:
    """True when something accepts on the LMS port; False when refused."""
    timeout_s = LMS_PROBE_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        raise AmtUnreachableError(
            f"LMS at {host}:{port} accepts no connection within {timeout_s:g} s: it is starting "
            "or hung, and it holds the LME client, so there is no fallback; restart lms or "
            "pass --lms off after stopping it"
        ) from None
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@contextlib.asynccontextmanager
async def open_local_channel(
    mei_path: str, lms: tuple[str, int] | None = LMS_DEFAULT
) -> AsyncIterator[LocalChannel]:
    """LMS at ``lms`` if it listens (``None``: never try), else LME on ``mei_path``."""
    if lms is not None and await lms_listening(*lms):
        yield LocalChannel(kind="lms", label=f"LMS at {lms[0]}:{lms[1]}", lms=lms)
        return
    session = await connect_lme(mei_path)
    async with session:
        yield LocalChannel(kind="lme", label=session.label, lme=session)
