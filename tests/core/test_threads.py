"""CPU quota (cgroups v1/v2, affinity) -> sessions x threads of the CPU runtimes: pure, faked
cgroup files and affinity."""

from __future__ import annotations

import pytest

from simplepose.runtime import threads
from simplepose.runtime.threads import (
    ThreadPlan,
    cgroup_cpu_quota,
    thread_plan,
    thread_settings,
    usable_cpus,
)

MANY_CORES = set(range(64))


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A 64-core host whose cgroup files live under ``tmp_path``; returns (root, proc_cgroup)."""
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: MANY_CORES)
    root, proc = tmp_path / "cgroup", tmp_path / "proc_self_cgroup"
    root.mkdir()
    monkeypatch.setattr(threads, "CGROUP_ROOT", root)
    monkeypatch.setattr(threads, "PROC_CGROUP", proc)
    for name in ("SIMPLEPOSE_THREADS", "SIMPLEPOSE_SESSIONS"):
        monkeypatch.delenv(name, raising=False)
    return root, proc


def test_cgroup_v2_quota_of_one_and_a_half_cpus_on_64_cores(host):
    root, proc = host
    proc.write_text("0::/kubepods/pod1/ctr\n")
    (root / "kubepods/pod1/ctr").mkdir(parents=True)
    (root / "kubepods/pod1/ctr/cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(root, proc) == 1.5
    assert usable_cpus(root, proc) == 1  # a second thread would be throttled half the time
    assert thread_plan(usable_cpus(root, proc)) == ThreadPlan(sessions=1, threads=1)


def test_cgroup_v2_at_the_namespace_root(host):
    root, proc = host
    proc.write_text("0::/\n")
    (root / "cpu.max").write_text("400000 100000\n")
    assert usable_cpus(root, proc) == 4
    assert thread_plan(4) == ThreadPlan(sessions=2, threads=2)


def test_cgroup_v1_quota(host):
    root, proc = host
    proc.write_text("5:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n")
    d = root / "cpu,cpuacct/docker/abc"
    d.mkdir(parents=True)
    (d / "cpu.cfs_quota_us").write_text("250000\n")
    (d / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(root, proc) == 2.5
    assert usable_cpus(root, proc) == 2


@pytest.mark.parametrize("text", ["max 100000", "-1", "garbage", "0 100000"])
def test_no_quota_means_the_affinity_mask(host, text):
    root, proc = host
    (root / ("cpu.max" if " " in text else "cpu.cfs_quota_us")).write_text(text)
    assert cgroup_cpu_quota(root, proc) is None
    assert usable_cpus(root, proc) == 64
    assert thread_plan(64) == ThreadPlan(sessions=32, threads=2)


def test_affinity_below_the_quota_wins(host, monkeypatch):
    root, proc = host
    (root / "cpu.max").write_text("800000 100000")
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert usable_cpus(root, proc) == 3
    assert thread_plan(3) == ThreadPlan(sessions=1, threads=3)


def test_a_traversing_cgroup_path_is_ignored(host):
    root, proc = host
    proc.write_text("0::/../../etc\n")
    assert cgroup_cpu_quota(root, proc) is None


@pytest.mark.parametrize(
    ("cpus", "plan"), [(1, (1, 1)), (2, (1, 2)), (3, (1, 3)), (5, (2, 2)), (16, (8, 2))]
)
def test_thread_plan(cpus, plan):
    assert thread_plan(cpus) == ThreadPlan(*plan)
    with pytest.raises(ValueError, match="at least one CPU"):
        thread_plan(0)


def test_settings_follow_the_quota_unless_told(host, monkeypatch):
    root, proc = host
    (root / "cpu.max").write_text("150000 100000")
    s = thread_settings()
    assert (s.sessions, s.intra_op, s.total) == (1, 1, 1)
    (root / "cpu.max").write_text("800000 100000")
    s = thread_settings()
    assert (s.sessions, s.intra_op, s.total) == (4, 2, 8)
    assert thread_settings(3).to_dict()["sessions"] == 1  # threads alone: one session
    assert (thread_settings(sessions=2).intra_op, thread_settings(2, sessions=3).total) == (4, 6)
    monkeypatch.setenv("SIMPLEPOSE_SESSIONS", "x")
    with pytest.raises(ValueError, match="SIMPLEPOSE_SESSIONS must be an integer"):
        thread_settings()
    with pytest.raises(ValueError, match=">= 1"):
        thread_settings(2, sessions=0)
