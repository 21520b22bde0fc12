"""HL7 v2 PAM feed over a real MLLP socket on loopback: ACK/NAK, charsets, merge, forward."""

from __future__ import annotations

import asyncio

import pytest

from socle.ins import model as M
from socle.ins.mllp import MllpServer, frame, read_frame
from tests.ins.conftest import nir

INS_TEST = "ASIP-SANTE-INS-NIR-TEST&1.2.250.1.213.1.4.10&ISO"
IPP = "HOSP&1.2.250.1.999.9&ISO"


def adt(
    event: str,
    ipp: str,
    *,
    family: str = "MARTIN",
    given: str = "MARIE",
    others: str = "",
    birth: str = "19850307",
    sex: str = "F",
    ins: str | None = None,
    status: str = "PROV",
    control: str = "1",
    charset: str = "UNICODE UTF-8",
    mrg: str | None = None,
    place: str = "35238",
) -> str:
    ids = f"{ipp}^^^{IPP}^PI"
    if ins:
        ids += f"~{ins}^^^{INS_TEST}^INS"
    structure = {"A40": "ADT_A39", "A47": "ADT_A30"}.get(event, "ADT_A01")
    segs = [
        f"MSH|^~\\&|GAM|HOSP|SOCLE|SOCLE|20250102120000||ADT^{event}^{structure}|{control}|P|"
        f"2.5|||||FRA|{charset}",
        "EVN||20250102120000",
        f"PID|||{ids}||{family}^{given}^{others}^^^^L~DURAND^MARIE^^^^^D||{birth}|{sex}|||"
        f"^^^^^^BDL^^{place}" + "|" * 21 + status,
    ]
    if mrg:
        segs.append(f"MRG|{mrg}^^^{IPP}^PI")
    if event in ("A01", "A03", "A04"):  # PV1-19: the patient's stay
        segs.append("|".join(["PV1", "", "I"] + [""] * 16 + [f"V-{ipp}^^^{IPP}^VN"]))
    return "\r".join(segs) + "\r"


async def _exchange(port: int, messages: list[bytes]) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    acks = []
    for m in messages:
        writer.write(frame(m))
        await writer.drain()
        acks.append(await read_frame(reader))
    writer.close()
    await writer.wait_closed()
    return acks


def _msa(ack: bytes, codec: str = "utf-8") -> list[str]:
    seg = next(s for s in ack.decode(codec).split("\r") if s.startswith("MSA"))
    return seg.split("|")


def test_feed_over_mllp(ins_engine, tenant) -> None:  # noqa: ANN001
    received: list[bytes] = []

    async def subscriber(reader, writer):  # noqa: ANN001, ANN202
        while (m := await read_frame(reader)) is not None:
            received.append(m)
            writer.write(frame(b"MSH|^~\\&|SUB|SUB|||||ACK|1|P|2.5\rMSA|AA|1\r"))
            await writer.drain()

    async def scenario() -> list[bytes]:
        sub = await asyncio.start_server(subscriber, "127.0.0.1", 0)
        sub_port = sub.sockets[0].getsockname()[1]
        server = MllpServer(ins_engine, tenant, port=0, forward=("127.0.0.1", sub_port))
        port = await server.start()
        qual_ins = nir(order=321)
        messages = [
            adt("A28", "IPP1", control="c1").encode(),
            # ISO-8859-1 message with accents, qualified identity with INS
            adt(
                "A28",
                "IPP2",
                family="LEFÈVRE",
                given="HÉLÈNE",
                others="JOSÉE",
                ins=qual_ins,
                status="QUAL",
                control="c2",
                charset="8859/1",
            ).encode("iso-8859-1"),
            adt(
                "A31", "IPP1", given="MARIE", others="CLAIRE", status="PROV", control="c3"
            ).encode(),
            adt("A28", "IPP3", ins=qual_ins[:13] + "00", status="RECUP", control="c4").encode(),
            adt("A28", "IPP4", birth="19850230", control="c5").encode(),
            adt("A28", "IPP5", family="", control="c6").encode(),
            b"MSH|^~\\&|GAM|HOSP|SOCLE|SOCLE|2025||ADT^A28",  # truncated, no PID
            b"this is not HL7",
            adt("A01", "IPP6", family="BERNARD", given="PAUL", sex="M", control="c9").encode(),
            adt(
                "A40", "IPP6", family="BERNARD", given="PAUL", sex="M", mrg="IPP1", control="c10"
            ).encode(),
            adt("A40", "IPP1", mrg="IPP6", control="c11").encode(),  # would be a cycle
            adt(
                "A47", "IPP7", family="BERNARD", given="PAUL", sex="M", mrg="IPP6", control="c12"
            ).encode(),
            adt("ZZZ", "IPP8", control="c13").encode(),
        ]
        acks = await _exchange(port, messages)
        for _ in range(50):
            if server.forwarder.sent >= 6:
                break
            await asyncio.sleep(0.05)
        await server.close()
        sub.close()
        await sub.wait_closed()
        return acks

    acks = asyncio.run(scenario())
    codes = [_msa(a, "iso-8859-1")[1] for a in acks]
    # malformed messages are errors of format (AE), an unknown event is not accepted (AR)
    assert codes == ["AA", "AA", "AA", "AE", "AE", "AE", "AE", "AE", "AA", "AA", "AE", "AA", "AR"]
    assert _msa(acks[0])[2] == "c1"
    assert "key 00" in acks[3].decode() and "ERR|" in acks[3].decode()
    assert "impossible date" in acks[4].decode()
    assert "Missing mandatory trait" in acks[5].decode()
    assert "cycle" in acks[10].decode() or "already merged" in acks[10].decode()
    assert len(received) == 6  # only accepted messages are forwarded
    # what was stored
    with ins_engine.store.session(tenant) as s:
        pks = ins_engine.search.find_pks(
            s, "Patient", [("identifier", "urn:oid:1.2.250.1.999.9|IPP2")]
        )
        p2 = s.fetch_current(pks)[0]
        import orjson

        hel = M.read_identity(orjson.loads(p2.content))
        assert hel.birth_family == "LEFEVRE" and hel.given == ["HELENE", "JOSEE"]
        assert hel.status == M.QUAL and hel.ins
        for ipp in ("IPP3", "IPP4", "IPP5"):
            assert (
                ins_engine.search.find_pks(
                    s, "Patient", [("identifier", f"urn:oid:1.2.250.1.999.9|{ipp}")]
                )
                == []
            )
        p1 = s.fetch_current(
            ins_engine.search.find_pks(
                s, "Patient", [("identifier", "urn:oid:1.2.250.1.999.9|IPP1")]
            )
        )[0]
        p1 = orjson.loads(p1.content)
        assert M.read_identity(p1).given == ["MARIE", "CLAIRE"]
        assert p1["active"] is False and p1["link"][0]["type"] == "replaced-by"
        p7 = ins_engine.search.find_pks(
            s, "Patient", [("identifier", "urn:oid:1.2.250.1.999.9|IPP7")]
        )
        assert len(p7) == 1


def test_messages_of_several_connections_are_written_one_batch_at_a_time(monkeypatch) -> None:  # noqa: ANN001
    """Several senders: each message is still answered in its connection's order, one
    transaction is written at a time (no interleaving on the GIL), and messages that
    arrive together share a transaction (group commit)."""
    import threading
    import time

    from socle.ins import groupcommit, hl7feed
    from socle.ins.hl7feed import Outcome

    running, most, sizes = [0], [0], []
    guard = threading.Lock()

    def fake_store_together(engine, tenant, messages):  # noqa: ANN001, ANN202
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        sizes.append(len(messages))
        time.sleep(0.05)  # long enough for the other connections to queue
        with guard:
            running[0] -= 1
        return [Outcome(b"MSA|AA|" + m.raw.split(b"|")[9] + b"\r", True) for m in messages]

    monkeypatch.setattr(groupcommit, "store_together", fake_store_together)
    monkeypatch.setattr(hl7feed, "store_together", fake_store_together)  # a batch of one

    async def scenario() -> list[list[bytes]]:
        server = MllpServer(None, "t", port=0)  # type: ignore[arg-type]
        port = await server.start()
        try:
            batches = [
                [adt("A28", f"C{c}M{i}", control=f"c{c}m{i}").encode() for i in range(5)]
                for c in range(3)
            ]
            return await asyncio.gather(*(_exchange(port, b) for b in batches))
        finally:
            await server.close()

    answers = asyncio.run(scenario())
    for c, acks in enumerate(answers):
        assert [a.split(b"|")[2].strip() for a in acks] == [f"c{c}m{i}".encode() for i in range(5)]
    assert most[0] == 1
    # 15 messages, each written once; those sent while a transaction was being written
    # (50 ms here) waited for the next one and shared it
    assert sum(sizes) == 15 and max(sizes) > 1


def test_forwarding_survives_a_subscriber_that_closes_its_links() -> None:
    """A subscriber that closes the link after each message: the next message is sent on
    a new link, not counted as delivered on the dead one."""
    import socket
    import threading

    from socle.ins.mllp import Forwarder, FrameReader

    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def subscriber() -> None:
        while len(received) < 3:
            sock, _ = listener.accept()
            with sock:
                message = FrameReader(sock).next()
                if message is not None:
                    received.append(message)
                    sock.sendall(frame(b"MSH|^~\\&|SUB\rMSA|AA|1\r"))

    thread = threading.Thread(target=subscriber, daemon=True)
    thread.start()
    forwarder = Forwarder("127.0.0.1", port)
    forwarder.start()
    for i in range(3):
        forwarder.put(f"MSH|^~\\&|m{i}".encode())
    forwarder.close()
    thread.join(10)
    listener.close()
    assert received == [f"MSH|^~\\&|m{i}".encode() for i in range(3)]
    assert (forwarder.sent, forwarder.dropped) == (3, 0)


def test_a_full_forwarding_queue_drops_instead_of_holding_the_ack() -> None:
    from socle.ins.mllp import Forwarder

    forwarder = Forwarder("127.0.0.1", 9)  # never started: nothing drains the queue
    forwarder.queue.maxsize = 2
    for i in range(3):
        forwarder.put(b"m%d" % i)  # returns at once, even when full
    assert (forwarder.queue.qsize(), forwarder.dropped) == (2, 1)


def test_listens_on_ipv6_loopback(monkeypatch) -> None:  # noqa: ANN001
    import socket

    import pytest

    from socle.ins import mllp
    from socle.ins.groupcommit import GroupWriter
    from socle.ins.hl7feed import Outcome

    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    monkeypatch.setattr(GroupWriter, "handle", lambda *a: Outcome(b"MSA|AA|v6\r", True))
    server = MllpServer(None, "t", host="::1", port=0)  # type: ignore[arg-type]
    port = server.start_background()
    try:
        with socket.create_connection(("::1", port), timeout=10) as sock:
            sock.sendall(frame(adt("A28", "V6").encode()))
            assert mllp.FrameReader(sock).next() == b"MSA|AA|v6\r"
    finally:
        server.stop()


def test_frame_reader_ends_a_frame_at_fs_and_enforces_the_limit_exactly() -> None:
    import socket

    from socle.ins.mllp import FrameReader

    a, b = socket.socketpair()
    with a, b:
        reader = FrameReader(b, limit=100)
        a.sendall(b"\x0bfirst\x1c")  # no <CR>: a lax sender still gets its message
        assert reader.next() == b"first"
        a.sendall(b"\r\x0b" + b"x" * 100 + b"\x1c\r")  # exactly the limit
        assert reader.next() == b"x" * 100
        a.sendall(b"\x0b" + b"y" * 101 + b"\x1c\r")  # one byte over, in one read
        with pytest.raises(ValueError, match="limit"):
            reader.next()


def test_a_stalled_frame_frees_its_connection(monkeypatch) -> None:  # noqa: ANN001
    """A peer that starts a frame and stops is closed after the frame timeout, so that
    stalled peers cannot hold every connection slot; a silent link between messages
    stays open (no idle timeout by default)."""
    import contextlib
    import socket
    import time

    from socle.ins import mllp
    from socle.ins.groupcommit import GroupWriter
    from socle.ins.hl7feed import Outcome

    monkeypatch.setattr(mllp, "FRAME_TIMEOUT_S", 0.3)
    monkeypatch.setattr(GroupWriter, "handle", lambda *a: Outcome(b"MSA|AA|x\r", True))
    server = MllpServer(None, "t", port=0, max_connections=1)  # type: ignore[arg-type]
    port = server.start_background()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
            idle.sendall(frame(adt("A28", "S0").encode()))
            assert mllp.FrameReader(idle).next() == b"MSA|AA|x\r"
            time.sleep(0.6)  # silent between messages: kept
            idle.sendall(frame(adt("A28", "S1").encode()))
            assert mllp.FrameReader(idle).next() == b"MSA|AA|x\r"
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
            stalled.sendall(b"\x0bMSH|^~\\&|")
            assert stalled.recv(100) == b""  # closed by the listener after 0.3 s
        deadline = time.monotonic() + 5
        while server.connections and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as dripping:
            started = time.monotonic()
            with contextlib.suppress(OSError):  # a byte every 0.1 s: the frame's 0.3 s run out
                for byte in b"\x0bMSH|^~\\&|GAM|HOSP|SOCLE|SOCLE|20250102||ADT^A28":
                    dripping.sendall(bytes([byte]))
                    time.sleep(0.1)
            with contextlib.suppress(OSError):
                assert dripping.recv(100) == b""
            assert time.monotonic() - started < 2.5  # not the 5 s the bytes took to drip
        deadline = time.monotonic() + 5
        while server.connections and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sender:
            sender.sendall(frame(adt("A28", "S2").encode()))  # its slot is free again
            assert mllp.FrameReader(sender).next() == b"MSA|AA|x\r"
    finally:
        server.stop()
