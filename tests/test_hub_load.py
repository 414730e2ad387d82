"""Spawn latency through the REST API on the shared embedded hub: a few servers at once here (the
full run, `graders hub-load --users 24`, takes minutes on two cores and reports percentiles)."""

from __future__ import annotations

from graders.hub.load import LoadReport, spawn_many


def test_concurrent_spawns_all_become_ready_and_stop(embedded_hub):
    ops = embedded_hub.ops()
    report = spawn_many(ops, users=4, prefix="load-test-", timeout_s=240)
    print("\n" + report.format())
    assert not report.failures and len(report.latencies_s) == 4
    assert report.percentile(50) <= report.percentile(90) <= max(report.latencies_s.values())
    users = {u["name"]: u for u in ops.api("GET", "/users")}
    assert all(not users[f"load-test-{i:03d}"]["servers"] for i in range(4))   # stopped again


def test_percentiles_are_nearest_rank():
    report = LoadReport({f"u{i}": float(i) for i in range(1, 21)}, {}, 20.0)
    assert (report.percentile(50), report.percentile(90), report.percentile(100)) == (10.0, 18.0, 20.0)
    assert "p50 10.0 s  p90 18.0 s  max 20.0 s" in report.format()
