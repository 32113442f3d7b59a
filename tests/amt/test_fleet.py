"""The fleet API: global concurrency limit, per-device results, one failure does not stop others."""

from __future__ import annotations

import socket

from mewarden.amt import power
from mewarden.amt.client import AmtClient, Endpoint
from mewarden.amt.fleet import run_fleet, summarize
from mewarden.secret import Secret
from tests.amt.conftest import Running


async def test_global_limit_and_per_device_results(amt: Running) -> None:
    in_flight = 0
    peak = 0

    def observe(_: object) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)

    amt.fake.on_request = observe
    amt.fake.delay_s = 0.02

    async def read(client: AmtClient) -> int:
        status = await power.read_power(client)
        nonlocal in_flight
        in_flight -= 1
        return int(status.state)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    endpoints = [amt.endpoint() for _ in range(6)]
    endpoints.insert(3, Endpoint(host="127.0.0.1", port=dead_port, password=Secret("x"), retries=0))
    done: list[str] = []
    results = await run_fleet(
        endpoints, read, concurrency=2, on_result=lambda r: done.append(r.host)
    )
    assert peak <= 2
    assert len(done) == 7
    assert [r.ok for r in results] == [True, True, True, False, True, True, True]
    assert all(r.value == 2 for r in results if r.ok)
    failed = results[3]
    assert failed.error_kind == "AmtUnreachableError"
    assert failed.exit_code == 4
    summary = summarize(results)
    assert (summary.total, summary.succeeded, summary.failed) == (7, 6, 1)
    assert summary.by_error == {"AmtUnreachableError": 1}
    assert amt.fake.challenges == 6  # one challenge per device, not per call


async def test_a_bad_endpoint_is_a_result_not_an_exception(amt: Running) -> None:
    endpoints = [amt.endpoint(), amt.endpoint(tls=True, pin_sha256="not-hex")]
    results = await run_fleet(endpoints, power.read_power)
    assert [r.ok for r in results] == [True, False]
    assert results[1].exit_code == 2
