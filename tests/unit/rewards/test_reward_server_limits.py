"""serve-reward fit for a network: timeouts, the connection cap, 413, auth, 400s, quiet errors, redaction, p99."""

from __future__ import annotations

import json
import logging
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from inkforge.core.errors import ConfigError
from inkforge.core.httpserver import ServerLimits
from inkforge.core.rubric import Rubric
from inkforge.llm import InkforgeConfig, ModelSpec, Runtime
from inkforge.rewards.judge import JudgeReward
from inkforge.rewards.serving import RemoteJudgeReward, RewardServer
from inkforge.rewards.serving.server import is_loopback, parse_body
from inkforge.testing import FakeChatModel

pytestmark = pytest.mark.timeout(120)


def good_judge(**kw: Any) -> JudgeReward:
    fake = FakeChatModel(responder=lambda m, s: {"explanation": "好", "verdict": "Good"})
    return JudgeReward(Rubric.default("greeting"), runtime=Runtime.for_testing(fake, concurrency=8), **kw)


@pytest.fixture
def judge() -> Iterator[JudgeReward]:
    j = good_judge()
    yield j
    j.close()


def serve(judge: JudgeReward, **kw: Any) -> RewardServer:
    return RewardServer(judge, **kw).start()


def raw_request(port: int, data: bytes, *, read: bool = True, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if not read:
            return b""
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                if len(body) >= length:
                    break
        return b"".join(chunks)


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0


def post(url: str, body: Any, *, token: str | None = None, content_type: str = "application/json",
         raw: bytes | None = None, timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


SCORE = {"prompts": ["生日祝福"], "completions": ["生日快乐！"]}


# ------------------------------------------------------------------------------------------ timeouts


def test_a_request_that_trickles_in_is_cut_off_at_the_read_timeout(judge: JudgeReward) -> None:
    server = serve(judge, limits=ServerLimits(read_timeout=0.6, idle_timeout=30))
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            start = time.monotonic()
            reply = b""
            for ch in b"POST /score HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                try:
                    s.sendall(bytes([ch]))
                except OSError:
                    break
                time.sleep(0.05)  # a byte every 50 ms: each recv succeeds, the whole never arrives
                s.setblocking(False)
                try:
                    reply += s.recv(4096)
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
                if reply:
                    break
            elapsed = time.monotonic() - start
        assert status_of(reply) == 408 and b"read_timeout" in reply
        assert 0.5 <= elapsed < 3.0
        assert server.conn_stats["read_timeout"] == 1
    finally:
        server.stop()


def test_an_idle_connection_is_closed_at_the_idle_timeout(judge: JudgeReward) -> None:
    server = serve(judge, limits=ServerLimits(idle_timeout=0.4))
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            start = time.monotonic()
            assert s.recv(10) == b""  # closed by the server, no bytes ever sent
            assert 0.3 <= time.monotonic() - start < 3.0
        assert server.conn_stats["idle_closed"] == 1
    finally:
        server.stop()


def test_a_body_that_trickles_in_gets_408_at_the_same_deadline(judge: JudgeReward) -> None:
    server = serve(judge, limits=ServerLimits(read_timeout=0.8, idle_timeout=30))
    try:
        body = json.dumps(SCORE).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            start = time.monotonic()
            s.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:5])
            s.settimeout(5)
            reply = b""
            while chunk := s.recv(4096):  # the rest of the body never comes; the server answers and closes
                reply += chunk
                elapsed = time.monotonic() - start
        assert status_of(reply) == 408 and b"read_timeout" in reply
        assert 0.7 <= elapsed < 3.0
        assert server.conn_stats["read_timeout"] == 1
    finally:
        server.stop()


def test_keep_alive_pipelining_and_the_idle_timeout_after_a_request(judge: JudgeReward) -> None:
    server = serve(judge, limits=ServerLimits(idle_timeout=0.5))
    try:
        body = json.dumps(SCORE).encode()
        one = (b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
               + str(len(body)).encode() + b"\r\n\r\n" + body)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(one + one)  # two requests in one write: both answered, in order, on one connection
            seen = b""
            while seen.count(b"HTTP/1.1 200") < 2:
                chunk = s.recv(65536)
                assert chunk, seen
                seen += chunk
            start = time.monotonic()
            while s.recv(65536):  # then the connection idles, and the server closes it
                pass
            assert 0.3 <= time.monotonic() - start < 3.0
        assert server.conn_stats["idle_closed"] == 1
    finally:
        server.stop()


def test_oversized_headers_get_431_and_garbage_gets_a_json_400(judge: JudgeReward) -> None:
    server = serve(judge, limits=ServerLimits(max_header_bytes=4096))
    try:
        reply = raw_request(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
        assert status_of(reply) == 431 and b"headers_too_large" in reply
        reply = raw_request(server.port, b"BREW /pot HTCPCP/1.0\r\n\r\n")
        assert status_of(reply) == 400 and b'"invalid_request"' in reply
        assert post(server.url + "/score", SCORE)[0] == 200
    finally:
        server.stop()


def test_a_client_that_stops_reading_is_dropped_at_the_write_timeout(judge: JudgeReward) -> None:
    server = serve(judge, limits=ServerLimits(write_timeout=0.5))
    try:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", server.port))
            s.setblocking(False)
            request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 50
            deadline = time.monotonic() + 20
            while not server.conn_stats["write_timeout"] and time.monotonic() < deadline:
                try:  # pipelined requests, never a byte read: the answers pile up in the server
                    s.send(request)
                except BlockingIOError:
                    time.sleep(0.01)
                except OSError:
                    break
        assert server.conn_stats["write_timeout"] == 1
    finally:
        server.stop()


# -------------------------------------------------------------------------------- connection cap


def test_at_the_cap_idle_connections_make_room_then_busy_ones_get_503(judge: JudgeReward) -> None:
    server = serve(judge, limits=ServerLimits(max_connections=6, slow_grace=60, idle_timeout=60, read_timeout=60))
    stalled: list[socket.socket] = []
    try:
        for _ in range(6):  # open, never send a byte
            stalled.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        deadline = time.monotonic() + 5
        while server.open_connections < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        # A healthy client still gets through: the longest-idle stalled connection is evicted.
        assert post(server.url + "/score", SCORE)[0] == 200
        assert server.conn_stats["evicted"] >= 1
        for s in stalled:
            s.close()
        stalled = []
        # Six connections in the middle of a request (younger than slow_grace) are all busy: 503.
        for _ in range(6):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(b"POST /score HTTP/1.1\r\n")
            stalled.append(s)
        deadline = time.monotonic() + 5
        while server.open_connections < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        reply = raw_request(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(reply) == 503 and b"overloaded" in reply and b"Retry-After: 1" in reply
        assert server.conn_stats["rejected"] >= 1
    finally:
        for s in stalled:
            s.close()
        server.stop()


def test_stalled_connections_cost_no_thread(judge: JudgeReward) -> None:
    server = serve(judge)
    stalled: list[socket.socket] = []
    try:
        assert post(server.url + "/score", SCORE)[0] == 200
        threads = threading.active_count()
        for i in range(200):  # half of them mid-request
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            if i % 2:
                s.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\n")
            stalled.append(s)
        deadline = time.monotonic() + 5
        while server.open_connections < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.open_connections == 200
        assert threading.active_count() == threads  # one event loop holds them all
        assert post(server.url + "/score", SCORE)[0] == 200
    finally:
        for s in stalled:
            s.close()
        server.stop()


# ------------------------------------------------------------------------------------------- bodies


def test_a_body_over_the_cap_gets_413_before_it_is_sent(judge: JudgeReward) -> None:
    server = serve(judge, limits=ServerLimits(max_body_bytes=1024 * 1024))
    try:
        # Only the headers are sent: the 413 cannot have waited for the body.
        head = (b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 52428800\r\n\r\n")
        reply = raw_request(server.port, head)
        assert status_of(reply) == 413 and b"body_too_large" in reply and b"52428800" in reply
        # A client that sends the whole (5 MB) body anyway still reads the 413.
        status, out = post(server.url + "/score", None, raw=b'{"prompts": ["' + b"a" * (5 * 2**20) + b'"]}')
        assert status == 413 and out["error"]["type"] == "body_too_large"
        assert post(server.url + "/score", SCORE)[0] == 200  # and the server is fine
        # Chunked bodies carry no length to check up front.
        reply = raw_request(server.port, b"POST /score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert status_of(reply) == 411
    finally:
        server.stop()


@pytest.mark.parametrize(("content_type", "raw", "kind"), [
    ("application/json", b'{"prompts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "invalid_json"),
    ("application/json", b'{"prompts": ' + b"[" * 40 + b"]" * 40 + b', "completions": []}', "invalid_json"),
    ("text/plain", json.dumps(SCORE).encode(), "invalid_content_type"),
    ("application/x-www-form-urlencoded", b"prompts=a", "invalid_content_type"),
    ("application/json; charset=latin-1", json.dumps(SCORE).encode(), "invalid_content_type"),
    ("application/json", b'{"prompts": [', "invalid_json"),
    ("application/json", b"\xff\xfe{}", "invalid_json"),
    ("application/json", b"[1, 2]", "invalid_request"),
    ("application/json", json.dumps({"prompts": ["p"], "completions": [3]}).encode(), "invalid_request"),
])
def test_bad_bodies_get_400_never_500(judge: JudgeReward, content_type: str, raw: bytes, kind: str) -> None:
    with RewardServer(judge) as server:
        status, out = post(server.url + "/score", None, raw=raw, content_type=content_type)
        assert status == 400 and out["error"]["type"] == kind, out
        assert post(server.url + "/score", SCORE, content_type="application/json; charset=utf-8")[0] == 200


def test_parse_body_accepts_conversational_batches() -> None:
    body = {"prompts": [[{"role": "user", "content": [{"type": "text", "text": "生日祝福"}]}]], "completions": ["好"]}
    assert parse_body(json.dumps(body).encode(), "application/json") == body


# --------------------------------------------------------------------------------------------- auth


def test_any_address_but_loopback_needs_a_token(judge: JudgeReward) -> None:
    assert is_loopback("::1") and is_loopback("127.0.0.2") and not is_loopback("") and not is_loopback("judge-node")
    for host in ("0.0.0.0", "::", ""):
        with pytest.raises(ConfigError, match="without a bearer token"):
            RewardServer(judge, host=host)
    with pytest.raises(ConfigError, match="empty"):
        RewardServer(judge, auth_token="  ")
    server = RewardServer(judge, host="0.0.0.0", auth_token="t0ken-for-the-test")
    server.server_close()


def test_requests_without_the_token_get_401(judge: JudgeReward, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "correct-horse-battery-staple"
    with RewardServer(judge, auth_token=token) as server:
        status, out = post(server.url + "/score", SCORE)
        assert status == 401 and out["error"]["type"] == "unauthorized"
        assert post(server.url + "/score", SCORE, token="wrong-token-1234")[0] == 401
        assert post(server.url + "/score", SCORE, token=token)[0] == 200
        reply = raw_request(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(reply) == 401 and b'www-authenticate: bearer realm="inkforge-reward"' in reply.lower()
        monkeypatch.delenv("INKFORGE_REWARD_TOKEN", raising=False)
        with pytest.raises(ValueError, match="INKFORGE_REWARD_TOKEN"):
            RemoteJudgeReward(server.url, max_retries=0)(prompts=["p"], completions=["c"])
        monkeypatch.setenv("INKFORGE_REWARD_TOKEN", token)
        assert RemoteJudgeReward(server.url)(prompts=["生日祝福"], completions=["生日快乐"]) == [1.0]
        assert 'inkforge_reward_refused_total{reason="unauthorized"} 4' in \
            urllib.request.urlopen(urllib.request.Request(server.url + "/metrics",
                                                          headers={"Authorization": f"Bearer {token}"})).read().decode()
        assert token not in "".join(server.metrics.prometheus(server.conn_stats, 0))


# ------------------------------------------------------------------------------------ quiet errors


class ExplodingJudge(JudgeReward):
    async def ascore_batch(self, *a: Any, **kw: Any) -> Any:
        raise RuntimeError("boom: upstream said Authorization: Bearer sk-leaky-upstream-key-0001")


def test_errors_are_one_rate_limited_line_never_a_traceback(capfd: pytest.CaptureFixture[str],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeChatModel(responder=lambda m, s: {"explanation": "好", "verdict": "Good"})
    judge = ExplodingJudge(Rubric.default("greeting"), runtime=Runtime.for_testing(fake))
    caplog.set_level(logging.DEBUG)
    with RewardServer(judge) as server:
        for _ in range(20):
            status, out = post(server.url + "/score", SCORE)
            assert status == 500 and out["error"]["type"] == "server_error"
            assert "sk-leaky" not in json.dumps(out) and "[redacted]" in out["error"]["message"]
        for _ in range(20):
            post(server.url + "/score", None, raw=b"{", content_type="application/json")
            raw_request(server.port, b"BREW /pot HTCPCP/1.0\r\n\r\n")
    err = capfd.readouterr().err
    assert "Traceback" not in err
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert all(r.exc_info is None for r in caplog.records)
    assert 1 <= sum("server_error" in r.getMessage() or "failed on" in r.getMessage() for r in records) <= 2
    assert sum("invalid_json" in r.getMessage() for r in records) <= 2
    assert not any("sk-leaky" in r.getMessage() for r in caplog.records)
    judge.close()


# -------------------------------------------------------------------------------------- redaction


def test_an_upstream_echoing_the_key_never_reaches_the_score_answer_or_logs(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    from inkforge.testing.stub import Faults, StubServer

    secret = "sk-judge-secret-7f3a9c"
    monkeypatch.setenv("INKFORGE_TEST_JUDGE_KEY", secret)
    caplog.set_level(logging.DEBUG)
    with StubServer(faults=Faults(status_rates={401: 1.0}, echo_request=True)) as stub:
        cfg = InkforgeConfig(models={"default": ModelSpec(model="stub", base_url=stub.base_url, max_retries=0,
                                                          api_key_env="INKFORGE_TEST_JUDGE_KEY")},
                             cache=None, concurrency=4)
        judge = JudgeReward(Rubric.default("greeting"), config=cfg, max_failure_rate=1.0)
        with RewardServer(judge) as server:
            status, out = post(server.url + "/score", {"prompts": ["生日祝福"] * 2, "completions": ["快乐", "好"]})
            assert status == 200 and out["rewards"] == [None, None]
            assert all("401" in o["error"] for o in out["outcomes"])
            judge.max_failure_rate = 0.0  # now the same failures fail fast: the 503 quotes the first error
            status, fail_fast = post(server.url + "/score", {"prompts": ["生日祝福"] * 8,
                                                             "completions": [f"快乐{i}" for i in range(8)]})
            assert status == 503 and "401" in fail_fast["error"]["message"]
        judge.close()
    seen = json.dumps(out) + json.dumps(fail_fast) + capfd.readouterr().err + \
        " ".join(r.getMessage() for r in caplog.records)
    assert secret not in seen
    assert "[redacted]" in json.dumps(out)


# ----------------------------------------------------------------------------------- slow clients


def _slowloris(port: int, stop: threading.Event, opened: list[int]) -> None:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        return
    opened.append(1)
    try:
        line = b"POST /score HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"z" * 10_000
        for ch in line:
            if stop.is_set():
                break
            s.sendall(bytes([ch]))
            stop.wait(0.2)
    except OSError:
        pass
    finally:
        s.close()


def test_healthy_p99_holds_while_slow_clients_hold_connections(judge: JudgeReward) -> None:
    """60 slowloris clients and 300 stalled connections past a cap of 128: healthy calls stay fast."""
    server = serve(judge, limits=ServerLimits(workers=4, read_timeout=30, max_connections=128))
    stop, opened = threading.Event(), []
    stalled: list[socket.socket] = []
    slow = [threading.Thread(target=_slowloris, args=(server.port, stop, opened), daemon=True) for _ in range(60)]
    try:
        for t in slow:
            t.start()
        deadline = time.monotonic() + 10
        # Connected on the client's side is not yet accepted on the server's: wait for both.
        while (len(opened) < 60 or server.open_connections < 60) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.open_connections >= 55  # the slow clients are all connected, more than 4 workers
        for _ in range(300):  # then silent ones, past the cap: they evict each other, never the busy
            stalled.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        deadline = time.monotonic() + 10
        while server.conn_stats["evicted"] < 300 + 60 - 128 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.open_connections == 128 and server.conn_stats["evicted"] == 300 + 60 - 128
        remote = RemoteJudgeReward(server.url, max_retries=0, timeout=10)
        latencies = []
        for i in range(60):
            t0 = time.perf_counter()
            assert remote(prompts=["生日祝福"], completions=[f"生日快乐 {i}"]) == [1.0]
            latencies.append(time.perf_counter() - t0)
        p99 = statistics.quantiles(latencies, n=100)[98]
        assert p99 < 1.0, f"p99 {p99:.3f}s with 60 slow clients and 300 stalled connections"
        assert server.conn_stats["rejected"] == 0 and server.conn_stats["read_timeout"] == 0
    finally:
        for s in stalled:
            s.close()
        stop.set()
        for t in slow:
            t.join(timeout=5)
        server.stop()
