"""MLLP listener (asyncio) for the HL7 v2 PAM feed, with forwarding to a subscriber.

Framing: each message is ``<VT> message <FS><CR>`` (0x0B … 0x1C 0x0D). Messages of one
connection are processed in order, each in a worker thread (one database transaction),
and answered with an ACK/NAK in the same framing. Accepted messages are forwarded, as
received, to the subscriber (``--forward host:port``), through a queue and one
persistent connection that is re-opened when it drops; the subscriber's ACKs are read
and discarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from socle.ins.hl7feed import handle

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine

log = logging.getLogger("socle.ins.mllp")
VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"
MAX_MESSAGE = 1 << 20


def frame(message: bytes) -> bytes:
    return VT + message + FS + CR


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """The next framed message, or None at end of stream (bytes before <VT> are skipped)."""
    try:
        data = await reader.readuntil(FS + CR)
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError as exc:
        raise ValueError("message larger than the MLLP limit") from exc
    start = data.find(VT)
    return data[start + 1 : -2] if start >= 0 else data[:-2]


class Forwarder:
    """Sends accepted messages to a downstream MLLP subscriber, in order."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10_000)
        self.task: asyncio.Task | None = None
        self.sent = 0

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        writer = reader = None
        while True:
            message = await self.queue.get()
            for attempt in range(3):
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(self.host, self.port)
                    writer.write(frame(message))
                    await writer.drain()
                    await read_frame(reader)
                    self.sent += 1
                    break
                except OSError as exc:
                    log.warning("forwarding failed", extra={"error": str(exc)})
                    writer = None
                    await asyncio.sleep(0.2 * (attempt + 1))
            self.queue.task_done()

    async def close(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class MllpServer:
    def __init__(
        self,
        engine: FhirEngine,
        tenant: str,
        host: str = "127.0.0.1",
        port: int = 2575,
        forward: tuple[str, int] | None = None,
    ) -> None:
        self.engine, self.tenant, self.host, self.port = engine, tenant, host, port
        self.forwarder = Forwarder(*forward) if forward else None
        self.server: asyncio.AbstractServer | None = None
        self.handled = 0

    async def start(self) -> int:
        if self.forwarder:
            self.forwarder.start()
        self.server = await asyncio.start_server(
            self._client, self.host, self.port, limit=MAX_MESSAGE
        )
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("MLLP listening", extra={"host": self.host, "port": self.port})
        return self.port

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if peername else None
        try:
            while True:
                try:
                    message = await read_frame(reader)
                except ValueError:
                    break
                if message is None:
                    break
                outcome = await loop.run_in_executor(
                    None, handle, self.engine, self.tenant, message, peer
                )
                self.handled += 1
                writer.write(frame(outcome.ack))
                await writer.drain()
                if outcome.accepted and self.forwarder:
                    await self.forwarder.queue.put(message)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    async def close(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()
        if self.forwarder:
            await self.forwarder.close()

    async def serve_forever(self) -> None:
        await self.start()
        assert self.server is not None
        async with self.server:
            await self.server.serve_forever()
