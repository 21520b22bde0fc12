"""MLLP listener for the HL7 v2 PAM feed, with forwarding to a subscriber.

Framing: each message is ``<VT> message <FS><CR>`` (0x0B … 0x1C 0x0D). A PAM sender waits
for each ACK before sending the next message, so a connection is a strict sequence of
round trips and its latency is the feed's throughput. Each connection therefore has a
thread of its own with a blocking socket that reads a frame, processes the message (one
database transaction) and writes the ACK/NAK: no hand-over between an event loop and a
worker thread on the way. That hand-over, with asyncio, cost ~0.7 ms a message on a busy
2-core machine where a blocking round trip costs 34 µs (docs/ins.md § 6).

Connections are capped (`max_connections`) and probed by TCP keepalive (a link dropped
without a close frees its slot after about 2 minutes); a frame larger than `MAX_MESSAGE`
closes its connection, and so does a frame started and not finished within
`FRAME_TIMEOUT_S` (peers that start frames and stop would otherwise hold every slot); a
link silent for `idle_timeout` seconds is closed (default: never, as PAM senders keep
their link open between messages). Accepted messages are forwarded, as received and after their ACK,
to the subscriber (``--forward host:port``) by one more thread, through a bounded queue
(never waited on: past 10,000 waiting messages they are dropped and counted) and one
persistent connection that is re-opened when it drops, with 3 attempts a message; the
subscriber's ACKs are read and discarded.

The server runs in threads whatever calls it: `socle mllp` (`serve_forever`), `socle serve
--mllp-port` (`start_background` beside the HTTP server) and asyncio code (`start`/`close`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import socket
import threading
import time
from typing import TYPE_CHECKING

from socle.ins.groupcommit import GroupWriter
from socle.ins.hl7feed import internal_error, outgoing

if TYPE_CHECKING:
    from socle.fhir.engine import FhirEngine

log = logging.getLogger("socle.ins.mllp")
VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"
END = FS + CR
MAX_MESSAGE = 1 << 20
MAX_CONNECTIONS = 64
RECEIVE = 65536
FRAME_TIMEOUT_S = 30.0  # a started frame must arrive whole within this time
FORWARD_TIMEOUT_S = 10.0
# A link a sender dropped without closing it (reboot, NAT or firewall timeout) is found by
# TCP keepalive probes after about 2 minutes of silence, and its slot is freed.
KEEPALIVE = (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 6))


def frame(message: bytes) -> bytes:
    return VT + message + END


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """The next framed message, or None at end of stream (bytes before <VT> are skipped)."""
    try:
        data = await reader.readuntil(FS)
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError as exc:
        raise ValueError("message larger than the MLLP limit") from exc
    return _unframe(data[:-1])


def _unframe(data: bytes) -> bytes:
    start = data.find(VT)
    return data[start + 1 :] if start >= 0 else data


class FrameReader:
    """Frames from a blocking socket, buffered (a read may hold several or part of one).

    A frame ends at <FS>: the <CR> that should follow it is skipped with whatever else
    precedes the next <VT>, so that a sender that leaves it out still gets its ACK."""

    def __init__(
        self,
        sock: socket.socket,
        limit: int = MAX_MESSAGE,
        frame_timeout: float | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        self.sock, self.limit = sock, limit
        self.buffer = bytearray()
        # seconds a started frame may take to arrive whole, and a link may wait for the
        # next one (None: no limit; the socket's own timeout then applies)
        self.timeouts = (frame_timeout, idle_timeout)
        self.deadline: float | None = None  # when the frame in progress must be whole

    def next(self) -> bytes | None:
        """The next message; None when the peer closed (a partial frame is dropped);
        ValueError when a message is over the size limit, whatever the reads were."""
        scanned = 0
        while True:
            end = self.buffer.find(FS, scanned)
            if end >= 0:
                message = _unframe(bytes(self.buffer[:end]))
                del self.buffer[: end + 1]
                self.deadline = None
                if len(message) > self.limit:
                    raise ValueError("message larger than the MLLP limit")
                return message
            start = self.buffer.find(VT, 0, 16)  # after the previous frame's <CR>, if any
            if len(self.buffer) - (start + 1) > self.limit:
                raise ValueError("message larger than the MLLP limit")
            scanned = len(self.buffer)
            self._set_timeout()
            chunk = self.sock.recv(RECEIVE)
            if not chunk:
                return None
            self.buffer += chunk

    def _set_timeout(self) -> None:
        """Once bytes of a frame are in, what is left of its frame timeout, counted from
        its first byte (a peer that starts a frame and stops, or sends it a byte at a
        time, would hold a connection slot: it gets `TimeoutError`); else the idle one."""
        frame_timeout, idle_timeout = self.timeouts
        if frame_timeout is None and idle_timeout is None:
            return
        if not self.buffer.strip(b"\r\n"):
            self.sock.settimeout(idle_timeout)
            return
        if frame_timeout is None:
            self.sock.settimeout(None)
            return
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + frame_timeout
        left = self.deadline - now
        if left <= 0:
            raise TimeoutError("the MLLP frame did not arrive whole in time")
        self.sock.settimeout(left)


class Forwarder:
    """Sends accepted messages to a downstream MLLP subscriber, in order."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=10_000)
        self.thread: threading.Thread | None = None
        self.sent = 0
        self.dropped = 0

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="mllp-forward", daemon=True)
        self.thread.start()

    def put(self, message: bytes) -> None:
        """Queue a message without waiting: a subscriber that is down must not hold the
        feed's ACKs back (senders would time out and send again). Past 10,000 waiting
        messages, new ones are dropped and counted (`dropped`), and logged."""
        try:
            self.queue.put_nowait(message)
        except queue.Full:
            self.dropped += 1
            log.error("forwarding queue full: message dropped", extra={"dropped": self.dropped})

    def _run(self) -> None:
        link: tuple[socket.socket, FrameReader] | None = None
        while (message := self.queue.get()) is not None:
            for attempt in range(3):
                try:
                    link = link or self._connect()
                    link[0].sendall(frame(message))
                    if link[1].next() is None:  # the subscriber closed the link meanwhile
                        raise ConnectionError("the subscriber closed the connection")
                    self.sent += 1
                    break
                except (OSError, ValueError) as exc:
                    log.warning("forwarding failed", extra={"error": str(exc)})
                    if link is not None:
                        link[0].close()
                    link = None
                    time.sleep(0.2 * (attempt + 1))
            else:
                self.dropped += 1
                log.error("message not forwarded after 3 attempts", extra={"dropped": self.dropped})
        if link is not None:
            link[0].close()

    def _connect(self) -> tuple[socket.socket, FrameReader]:
        sock = socket.create_connection((self.host, self.port), FORWARD_TIMEOUT_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, FrameReader(sock)

    def close(self) -> None:
        if self.thread is not None:
            with contextlib.suppress(queue.Full):
                self.queue.put(None, timeout=FORWARD_TIMEOUT_S)
            self.thread.join(FORWARD_TIMEOUT_S)


class MllpServer:
    def __init__(
        self,
        engine: FhirEngine,
        tenant: str,
        host: str = "127.0.0.1",
        port: int = 2575,
        forward: tuple[str, int] | None = None,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout: float | None = None,
    ) -> None:
        self.engine, self.tenant, self.host, self.port = engine, tenant, host, port
        self.idle_timeout = idle_timeout  # None: a silent link stays open
        self.forwarder = Forwarder(*forward) if forward else None
        self.max_connections = max_connections
        self.listener: socket.socket | None = None
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        # The messages of all connections are written by one writer at a time, several
        # in a transaction when they arrive together (groupcommit.py). Interleaving their
        # transactions gained nothing: the GIL makes one core the limit, SQLite has one
        # writer and on PostgreSQL the audit chain's head row serialises them.
        self.writer = GroupWriter(engine, tenant)
        self.stopped = threading.Event()
        self.handled = 0

    def start_background(self) -> int:
        """Listen and accept in threads; returns the port (useful with port 0)."""
        if self.forwarder:
            self.forwarder.start()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self.listener = socket.create_server((self.host, self.port), family=family)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, name="mllp-accept", daemon=True).start()
        log.info("MLLP listening", extra={"host": self.host, "port": self.port})
        return self.port

    def _accept(self) -> None:
        assert self.listener is not None
        while not self.stopped.is_set():
            try:
                sock, address = self.listener.accept()
            except OSError:
                break  # the listener was closed
            with self.lock:
                refused = self.stopped.is_set() or len(self.connections) >= self.max_connections
                if not refused:
                    self.connections.add(sock)
            if refused:
                log.warning("MLLP connection refused: too many", extra={"peer": address[0]})
                sock.close()
                continue
            try:
                self._start_connection(sock, address)
            except (OSError, RuntimeError) as exc:  # e.g. no thread can be started
                log.error("MLLP connection dropped", extra={"peer": address[0], "error": str(exc)})
                with self.lock:
                    self.connections.discard(sock)
                sock.close()

    def _start_connection(self, sock: socket.socket, address: tuple) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in KEEPALIVE:
            if hasattr(socket, option):  # Linux names; other systems keep their defaults
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
        name = f"mllp-{address[0]}:{address[1]}"
        serve = threading.Thread(
            target=self._serve, args=(sock, address[0]), name=name, daemon=True
        )
        serve.start()

    def _serve(self, sock: socket.socket, peer: str) -> None:
        """One connection: frame in, message processed, ACK out, in order; an accepted
        message is queued for the subscriber once its ACK has left."""
        reader = FrameReader(sock, frame_timeout=FRAME_TIMEOUT_S, idle_timeout=self.idle_timeout)
        try:
            while (message := reader.next()) is not None:
                ack, accepted = self._answer(message, peer)
                sock.sendall(frame(ack))
                if accepted and self.forwarder:
                    self.forwarder.put(outgoing(message))
        except (OSError, ValueError) as exc:
            log.info("MLLP connection closed", extra={"peer": peer, "reason": str(exc)})
        finally:
            with self.lock:
                self.connections.discard(sock)
            sock.close()

    def _answer(self, message: bytes, peer: str) -> tuple[bytes, bool]:
        """The ACK/NAK of one message, and whether it was accepted."""
        try:
            outcome = self.writer.handle(message, peer)
        except Exception:  # noqa: BLE001 - the sender gets a NAK, never a dropped link
            log.exception("HL7 message failed", extra={"peer": peer})
            return internal_error(message), False
        self.handled += 1
        return outcome.ack, outcome.accepted

    def stop(self) -> None:
        """Stop accepting, close the open connections and the forwarder."""
        self.stopped.set()
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
        with self.lock:
            open_ones, self.connections = list(self.connections), set()
        for sock in open_ones:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self.forwarder:
            self.forwarder.close()

    def serve_forever(self) -> None:
        """Blocking: serve until interrupted (Ctrl-C) or `stop()`."""
        self.start_background()
        try:
            self.stopped.wait()
        finally:
            self.stop()

    async def start(self) -> int:
        return self.start_background()

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop)
