"""Statistics in the shape of ``runc events --stats``, read from simulated cgroup files."""

import os

from boxen.runtime.cgroups.stats import v1_stats, v2_stats


def _files(directory, files):
    os.makedirs(directory, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(directory, name), "w") as f:
            f.write(text)


def test_v1_stats_have_runcs_fields_and_omit_its_empty_ones(tmp_path):
    d = {name: str(tmp_path / name) for name in ("cpuset", "cpu", "cpuacct", "memory", "pids", "blkio", "devices")}
    _files(d["cpuset"], {"cpuset.cpus": "0\n", "cpuset.mems": "0\n", "cpuset.sched_relax_domain_level": "-1\n",
                         "cpuset.sched_load_balance": "1\n", "cpuset.cpu_exclusive": "0\n"})
    _files(d["cpu"], {"cpu.stat": "nr_periods 6\nnr_throttled 0\nthrottled_time 0\n"})
    _files(d["cpuacct"], {"cpuacct.usage": "16864916\n", "cpuacct.usage_percpu": "16864916 0 \n",
                          "cpuacct.usage_all": "cpu user system\n0 4000000 12000000\n1 0 0\n",
                          "cpuacct.stat": "user 0\nsystem 1\n"})
    _files(d["memory"], {"memory.stat": "cache 0\nrss 1417216\n", "memory.usage_in_bytes": "1847296\n",
                         "memory.limit_in_bytes": "104857600\n", "memory.max_usage_in_bytes": "1998848\n",
                         "memory.failcnt": "0\n", "memory.kmem.tcp.limit_in_bytes": "9223372036854771712\n",
                         "memory.kmem.tcp.usage_in_bytes": "0\n", "memory.kmem.tcp.max_usage_in_bytes": "0\n",
                         "memory.kmem.tcp.failcnt": "0\n"})
    _files(d["pids"], {"pids.current": "4\n", "pids.max": "64\n"})
    _files(d["blkio"], {"blkio.bfq.io_serviced_recursive": "Total 0\n",
                        "blkio.throttle.io_serviced_recursive": "8:0 Read 3\n8:0 Write 0\nTotal 3\n",
                        "blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\nTotal 4096\n"})
    stats = v1_stats(d)
    assert list(stats) == ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"]
    assert stats["cpu"] == {"usage": {"total": 16864916, "percpu": [16864916, 0], "percpu_kernel": [12000000, 0],
                                      "percpu_user": [4000000, 0], "kernel": 10000000, "user": 0},
                            "throttling": {"periods": 6}}
    assert stats["cpuset"]["cpus"] == [0] and stats["cpuset"]["sched_relax_domain_level"] == -1
    assert stats["memory"]["usage"] == {"limit": 104857600, "usage": 1847296, "max": 1998848, "failcnt": 0}
    assert stats["memory"]["kernelTCP"] == {"limit": 9223372036854771712, "failcnt": 0}
    assert stats["memory"]["swap"] == {"limit": 0, "failcnt": 0}  # no memsw files: zeros, as runc
    assert stats["memory"]["raw"] == {"cache": 0, "rss": 1417216} and "cache" not in stats["memory"]
    assert stats["pids"] == {"current": 4, "limit": 64}
    assert stats["blkio"] == {"ioServiceBytesRecursive": [{"major": 8, "op": "Read", "value": 4096}],
                              "ioServicedRecursive": [{"major": 8, "op": "Read", "value": 3},
                                                      {"major": 8, "op": "Write"}]}
    assert stats["intel_rdt"] == {} and stats["network_interfaces"] is None


def test_v2_stats_without_controllers_count_processes(tmp_path):
    _files(str(tmp_path), {"cgroup.procs": "10\n11\n", "cpu.stat": "usage_usec 5\nuser_usec 3\nsystem_usec 2\n"})
    stats = v2_stats(str(tmp_path))
    assert stats["pids"] == {"current": 2}
    assert stats["cpu"] == {"usage": {"total": 5000, "kernel": 2000, "user": 3000}, "throttling": {}}
    assert stats["memory"]["usage"] == {"limit": 0, "failcnt": 0}
    assert stats["cpuset"] == {"cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0, "memory_migrate": 0,
                               "memory_spread_page": 0, "memory_spread_slab": 0, "memory_pressure": 0,
                               "sched_load_balance": 0, "sched_relax_domain_level": 0}


def test_v2_memory_and_io(tmp_path):
    _files(str(tmp_path), {"memory.current": "100\n", "memory.max": "max\n", "memory.swap.current": "5\n",
                           "memory.swap.max": "max\n", "memory.stat": "anon 90\nfile 10\n",
                           "io.stat": "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
                           "pids.current": "1\n", "pids.max": "max\n"})
    stats = v2_stats(str(tmp_path))
    assert stats["memory"]["usage"] == {"limit": (1 << 64) - 1, "usage": 100, "failcnt": 0}
    assert stats["memory"]["swap"] == {"limit": (1 << 64) - 1, "usage": 105, "failcnt": 0}
    assert stats["memory"]["cache"] == 10
    assert stats["blkio"]["ioServiceBytesRecursive"] == [{"major": 8, "op": "Read", "value": 4096},
                                                         {"major": 8, "op": "Write"}]
    assert stats["pids"] == {"current": 1}
