"""Python tests: the ttmem package against a real ttmemd, this process reporting through the real
libttmem (ctypes), and a real Prometheus server scraping the daemon's metrics.

Run by ctest (Python.*) with TTMEM_BIN_DIR and TTMEM_LIB_DIR set to the build's directories."""

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import ttmem  # noqa: E402

BIN = os.environ.get("TTMEM_BIN_DIR", os.path.join(ROOT, "build", "bin"))
LIB = os.environ.get("TTMEM_LIB_DIR", os.path.join(ROOT, "build", "lib"))
MIB = 1024 * 1024
DRAM, L1 = 0, 1


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, ttmem.TtmemError, ValueError, KeyError) as e:
            last = e
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class Daemon:
    def __init__(self, tmp, extra=()):
        self.socket = os.path.join(tmp, "ttmemd.sock")
        shm = os.path.join(tmp, "shm")
        os.makedirs(shm, exist_ok=True)
        self.log = open(os.path.join(tmp, "ttmemd.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "ttmemd"), "--socket", self.socket, "--shm-dir", shm,
             "--driver-dir", os.path.join(tmp, "nodriver")] + list(extra),
            stdout=self.log, stderr=self.log)
        wait_for(lambda: ttmem.status(self.socket), 10, "ttmemd to answer")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        self.log.close()


# This process reports through the real libttmem, to a daemon started before the library loads.
_TMP = tempfile.mkdtemp(prefix="ttmem-py-")
_DAEMON = None
_LIB = None


def setUpModule():
    global _DAEMON, _LIB
    _DAEMON = Daemon(_TMP)
    os.environ["TT_ALLOC_TRACKING_ENABLED"] = "1"
    os.environ["TTMEM_SOCKET"] = _DAEMON.socket
    _LIB = ctypes.CDLL(os.path.join(LIB, "libttmem.so"))
    os.environ["TTMEM_LIB"] = os.path.join(LIB, "libttmem.so")  # ttmem.scope finds the same one
    _LIB.ttmem_alloc.argtypes = [ctypes.c_uint32, ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64,
                                 ctypes.c_uint64]
    _LIB.ttmem_free.argtypes = [ctypes.c_uint32, ctypes.c_uint64]
    _LIB.ttmem_flush.argtypes = [ctypes.c_uint32]
    assert _LIB.ttmem_enabled() == 1


def tearDownModule():
    _DAEMON.stop()
    shutil.rmtree(_TMP, ignore_errors=True)


_next_id = [1000]


def alloc(device, mem_type, size, address=0x1000):
    _next_id[0] += 1
    _LIB.ttmem_alloc(device, mem_type, _next_id[0], address, size)
    return _next_id[0]


def free(device, buffer_id):
    _LIB.ttmem_free(device, buffer_id)


class StatusTest(unittest.TestCase):
    def test_status_is_the_json_document(self):
        a = alloc(0, DRAM, 3 * MIB)
        self.assertEqual(_LIB.ttmem_flush(5000), 0)
        s = ttmem.status(_DAEMON.socket)
        self.assertIsInstance(s, dict)
        self.assertIn("devices", s)
        self.assertIn("processes", s)
        usage = ttmem.process_usage(s, os.getpid())
        self.assertEqual(usage.get((0, "dram")), 3 * MIB)
        mine = [p for p in s["processes"] if p["pid"] == os.getpid()]
        self.assertEqual(len(mine), 1)
        self.assertTrue(mine[0]["name"].startswith("python"))
        big = ttmem.buffers(os.getpid(), limit=1000, socket_path=_DAEMON.socket)
        mine = [b for b in big["buffers"] if b["id"] == a]
        self.assertEqual(len(mine), 1)
        self.assertEqual((mine[0]["device"], mine[0]["type"], mine[0]["size"]), (0, "dram", 3 * MIB))
        free(0, a)
        _LIB.ttmem_flush(5000)
        self.assertNotIn((0, "dram"), ttmem.process_usage(ttmem.status(_DAEMON.socket),
                                                          os.getpid()))

    def test_clear_error_without_a_daemon(self):
        with self.assertRaises(ttmem.TtmemError) as cm:
            ttmem.status(os.path.join(_TMP, "nothing-here.sock"))
        self.assertIn("ttmemd", str(cm.exception))
        self.assertIn("TTMEM_SOCKET", str(cm.exception))


class ScopeTest(unittest.TestCase):
    def test_allocations_inside_a_scope_carry_its_name(self):
        with ttmem.scope("py_outer"):
            a = alloc(0, DRAM, 2 * MIB)
            with ttmem.scope("py_inner"):
                b = alloc(0, DRAM, 3 * MIB)

        @ttmem.scope("py_decorated")
        def make():
            return alloc(0, L1, 4096)

        c = make()
        d = alloc(0, DRAM, MIB)
        self.assertTrue(ttmem.mark("py_phase"))
        self.assertEqual(_LIB.ttmem_flush(5000), 0)
        listing = ttmem.buffers(os.getpid(), limit=1000, socket_path=_DAEMON.socket)
        ops = {x["id"]: x["op"] for x in listing["buffers"]}
        self.assertEqual(ops[a], "py_outer")
        self.assertEqual(ops[b], "py_inner")
        self.assertEqual(ops[c], "py_decorated")
        self.assertIsNone(ops[d])
        by_op = {o["op"]: o for o in listing["by_op"]}
        self.assertEqual(by_op["py_inner"]["bytes"], 3 * MIB)
        for x in (a, b, c, d):
            free(0, x)
        _LIB.ttmem_flush(5000)


class OomSnapshotTest(unittest.TestCase):
    # tt-metal's wording (bank_manager.cpp), as a RuntimeError from ttnn carries it.
    OOM = ("TT_FATAL @ tt_metal/impl/allocator/bank_manager.cpp:439: false\nOut of Memory: Not "
           "enough space to allocate 33554432 B L1 buffer across 64 banks, where each bank needs "
           "to store 524288 B, but bank size is 1364992 B (allocated: 1048576 B, free: 316416 B, "
           "largest free block: 316416 B)")

    def test_an_oom_saves_the_snapshot_naming_the_ops_and_goes_on(self):
        import io
        import json
        import tempfile

        with ttmem.scope("ttnn::conv2d"):
            act = alloc(5, L1, 48 * MIB)
        with ttmem.scope("ttnn::max_pool2d"):
            pooled = alloc(5, L1, 16 * MIB)
        out = io.StringIO()
        with tempfile.TemporaryDirectory() as d:
            guard = ttmem.oom_snapshot(directory=d, socket_path=_DAEMON.socket, stream=out)
            with self.assertRaises(RuntimeError) as cm:
                with guard:
                    raise RuntimeError(self.OOM)
            self.assertIsNotNone(guard.path)
            self.assertEqual(os.listdir(d), [os.path.basename(guard.path)])
            # A new file only this user reads, under a name nobody could predict (issue 26).
            self.assertEqual(os.stat(guard.path).st_mode & 0o777, 0o600)
            self.assertRegex(os.path.basename(guard.path),
                             r"^ttmem-oom-%d-\d+-[0-9a-f]{8}\.json$" % os.getpid())
            with open(guard.path) as f:
                saved = json.load(f)
        self.assertIn("snapshot saved to " + guard.path, cm.exception.__notes__[0])
        self.assertEqual(saved["pid"], os.getpid())
        self.assertIn("Out of Memory: Not enough space", saved["reason"])
        mine = {(b["device"], b["type"], b["size"], b["op"]) for b in saved["buffers"]
                if b["device"] == 5 and b["type"] == "l1"}
        self.assertEqual(mine, {(5, "l1", 48 * MIB, "ttnn::conv2d"),
                                (5, "l1", 16 * MIB, "ttnn::max_pool2d")})
        text = out.getvalue()
        self.assertIn("L1 on device 5: pid %d holds 64.0 MiB" % os.getpid(), text)
        self.assertIn("ttnn::conv2d 48.0 MiB (75 %), ttnn::max_pool2d 16.0 MiB (25 %)", text)
        # A planted symbolic link or FIFO at a snapshot path is refused, not followed or waited on
        # (issue 26: root's OOM overwrote a root-owned file through a link, a FIFO blocked it).
        with tempfile.TemporaryDirectory() as d:
            target = os.path.join(d, "precious")
            with open(target, "w") as f:
                f.write("keep")
            os.symlink(target, os.path.join(d, "link.json"))
            with self.assertRaises(OSError):
                ttmem.snapshot(path=os.path.join(d, "link.json"), socket_path=_DAEMON.socket)
            with open(target) as f:
                self.assertEqual(f.read(), "keep")
            os.mkfifo(os.path.join(d, "fifo.json"))
            with self.assertRaises(OSError):
                ttmem.snapshot(path=os.path.join(d, "fifo.json"), socket_path=_DAEMON.socket)
        # Not an OOM: nothing saved, the error goes on as it is.
        with self.assertRaises(KeyError):
            with ttmem.oom_snapshot(directory="/nonexistent", socket_path=_DAEMON.socket) as g:
                raise KeyError("x")
        self.assertIsNone(g.path)
        self.assertTrue(ttmem.is_out_of_memory(
            "Statically allocated circular buffers in program 7 clash with L1 buffers on core "
            "range [(x=0,y=0) - (x=7,y=7)]. L1 buffer allocated at 1 and static circular buffer "
            "region ends at 2"))
        self.assertFalse(ttmem.is_out_of_memory("Out of Memory"))
        free(5, act)
        free(5, pooled)
        _LIB.ttmem_flush(5000)


class OomHookTest(unittest.TestCase):
    def test_an_uncaught_oom_saves_the_snapshot_before_python_prints_it(self):
        # A process of its own (the hook wraps sys.excepthook): it allocates in a scope through
        # libttmem, then dies of tt-metal's out-of-memory error.
        script = (
            "import ctypes, os, sys\n"
            "sys.path.insert(0, %r)\n"
            "import ttmem\n"
            "lib = ctypes.CDLL(os.environ['TTMEM_LIB'])\n"
            "lib.ttmem_alloc.argtypes = [ctypes.c_uint32, ctypes.c_int, ctypes.c_uint64,"
            " ctypes.c_uint64, ctypes.c_uint64]\n"
            "ttmem.install_oom_hook(directory=sys.argv[1])\n"
            "with ttmem.scope('ttnn::embedding'):\n"
            "    lib.ttmem_alloc(9, 0, 1, 4096, 3 * 1048576)\n"
            "raise RuntimeError(%r)\n" % (os.path.join(ROOT, "python"), OomSnapshotTest.OOM))
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run([sys.executable, "-c", script, d], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("ttmem: snapshot saved to " + d, p.stderr)
            self.assertIn("RuntimeError: TT_FATAL", p.stderr)  # Python's own print follows
            self.assertLess(p.stderr.index("snapshot saved"), p.stderr.index("Traceback"))
            self.assertIn("DRAM on device 9: pid ", p.stderr)
            self.assertIn("ttnn::embedding 3.0 MiB (100 %)", p.stderr)
            files = os.listdir(d)
            self.assertEqual(len(files), 1)
            with open(os.path.join(d, files[0])) as f:
                saved = json.load(f)
            self.assertEqual([(b["device"], b["type"], b["size"], b["op"]) for b in saved["buffers"]],
                             [(9, "dram", 3 * MIB, "ttnn::embedding")])


class LeakCheckTest(unittest.TestCase):
    def test_passes_when_the_block_frees_what_it_allocates(self):
        with ttmem.no_leaks(socket_path=_DAEMON.socket, settle_s=1.0):
            a = alloc(0, DRAM, MIB)
            b = alloc(1, L1, 64 * 1024)
            free(0, a)
            free(1, b)

    def test_fails_when_the_block_leaves_memory_behind(self):
        with self.assertRaises(ttmem.DeviceMemoryLeak) as cm:
            with ttmem.no_leaks(socket_path=_DAEMON.socket, settle_s=0.5):
                alloc(2, DRAM, 5 * MIB, address=0x40000)
                keep = alloc(2, L1, 4096)
                free(2, keep)
        self.assertEqual(cm.exception.left, {(2, "dram"): 5 * MIB})
        self.assertIn("device 2 dram: 5242880 bytes", str(cm.exception))
        self.assertIn("0x40000", str(cm.exception))
        # What was held before the block does not count against it.
        with ttmem.no_leaks(socket_path=_DAEMON.socket, settle_s=0.5):
            pass

    def test_tolerance_devices_and_types(self):
        with ttmem.no_leaks(socket_path=_DAEMON.socket, settle_s=0.3, tolerance_bytes=8192):
            alloc(3, DRAM, 4096)
        with ttmem.no_leaks(socket_path=_DAEMON.socket, settle_s=0.3, types=["l1"]):
            alloc(3, DRAM, MIB)
        with self.assertRaises(ttmem.DeviceMemoryLeak):
            with ttmem.no_leaks(socket_path=_DAEMON.socket, settle_s=0.3, devices=[4]):
                alloc(4, L1, 1024)

    def test_an_exception_in_the_block_goes_through(self):
        with self.assertRaises(KeyError):
            with ttmem.no_leaks(socket_path=_DAEMON.socket):
                alloc(5, DRAM, MIB)
                raise KeyError("from the block")

    def test_another_process(self):
        env = dict(os.environ, TTMEM_SOCKET=_DAEMON.socket, TT_ALLOC_TRACKING_ENABLED="1")
        sim = subprocess.Popen([os.path.join(BIN, "ttmem-sim"), "leak", "--repeat", "2",
                                "--hold-ms", "800"], env=env, stdout=subprocess.DEVNULL)
        try:
            wait_for(lambda: ttmem.process_usage(ttmem.status(_DAEMON.socket), sim.pid), 10,
                     "the simulator to report")
            # Once it has exited, the daemon reclaimed what it leaked: nothing is left.
            with ttmem.no_leaks(pid=sim.pid, socket_path=_DAEMON.socket, settle_s=5):
                sim.wait(20)
        finally:
            sim.kill()
            sim.wait()


PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


class PrometheusTest(unittest.TestCase):
    """A real Prometheus server scrapes `ttmemd --metrics-listen`; its HTTP API must give what
    `ttmem status --json` says."""

    @classmethod
    def setUpClass(cls):
        if not PROMETHEUS or not PROMTOOL:
            raise AssertionError("prometheus and promtool are needed (scripts/deps.sh installs "
                                 "Debian's prometheus package)")
        cls.tmp = tempfile.mkdtemp(prefix="ttmem-prom-")
        cls.metrics_port = free_port()
        cls.daemon = Daemon(cls.tmp, ["--metrics-listen", "127.0.0.1:%d" % cls.metrics_port])
        cls.prom_port = free_port()
        config = os.path.join(cls.tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: ttmem\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % cls.metrics_port)
        cls.prom_log = open(os.path.join(cls.tmp, "prometheus.log"), "w")
        cls.prom = subprocess.Popen(
            [PROMETHEUS, "--config.file", config, "--storage.tsdb.path",
             os.path.join(cls.tmp, "data"), "--web.listen-address",
             "127.0.0.1:%d" % cls.prom_port],
            stdout=cls.prom_log, stderr=cls.prom_log)
        env = dict(os.environ, TTMEM_SOCKET=cls.daemon.socket, TT_ALLOC_TRACKING_ENABLED="1")
        cls.sim = subprocess.Popen([os.path.join(BIN, "ttmem-sim"), "mesh_allocation", "--mesh",
                                    "1x2", "--hold-ms", "60000"], env=env,
                                   stdout=subprocess.DEVNULL)
        # Issue 26: a process whose name is not UTF-8 (its binary's file name) on the same host.
        # Prometheus refuses a whole scrape with an invalid UTF-8 label value.
        evil = os.path.join(os.fsencode(cls.tmp), b"ev\xff\xfeil")
        os.symlink(os.path.join(BIN, "ttmem-sim"), evil)
        cls.evil = subprocess.Popen([evil, "mesh_allocation", "--mesh", "1x1", "--hold-ms",
                                     "60000"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        # The daemon rebuilds its metrics once a second: wait for the simulator's.
        wait_for(lambda: "ttmem_process_memory_used_bytes{" in cls.scrape(cls), 15,
                 "the simulator in the metrics")

    @classmethod
    def tearDownClass(cls):
        for p in (cls.sim, cls.evil, cls.prom):
            p.send_signal(signal.SIGTERM)
            p.wait(20)
        cls.prom_log.close()
        cls.daemon.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def scrape(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port,
                                    timeout=5) as r:
            return r.read().decode()

    def query(self, expr):
        url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (self.prom_port,
                                                             urllib.parse.quote(expr))
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise ValueError(body)
        return body["data"]["result"]

    def steady_status(self):
        # The simulator holds its peak for a minute: wait until two readings a second apart agree.
        def stable():
            a = ttmem.status(self.daemon.socket)
            time.sleep(1.0)
            b = ttmem.status(self.daemon.socket)
            used = lambda s: [(d["id"], t, m["used_bytes"]) for d in s["devices"]
                              for t, m in sorted(d["memory"].items())]
            return b if used(a) == used(b) and any(u for _, _, u in used(b)) else None
        return wait_for(stable, 30, "the simulator's peak")

    def test_a_name_that_is_not_utf8_does_not_blind_prometheus(self):
        def seen():
            up = self.query('up{job="ttmem"}')
            if not up or up[0]["value"][1] != "1":
                return None
            return self.query('ttmem_process_memory_used_bytes{comm=~"ev.*il"}') or None
        rows = wait_for(seen, 30, "Prometheus scraping a host with a process named ev\\xff\\xfeil")
        self.assertEqual(rows[0]["metric"]["comm"], "ev\ufffd\ufffdil")

    def test_prometheus_sees_what_status_says(self):
        s = self.steady_status()
        expected = {(str(d["id"]), t): m["used_bytes"] for d in s["devices"]
                    for t, m in d["memory"].items()}
        totals = {(str(d["id"]), t): m["total_bytes"] for d in s["devices"]
                  for t, m in d["memory"].items() if m.get("total_bytes")}

        def scraped():
            got = {(r["metric"]["device"], r["metric"]["type"]): int(float(r["value"][1]))
                   for r in self.query("ttmem_device_memory_used_bytes")}
            return got if got == expected else None
        wait_for(scraped, 30, "Prometheus to hold the daemon's figures")
        got_totals = {(r["metric"]["device"], r["metric"]["type"]): int(float(r["value"][1]))
                      for r in self.query("ttmem_device_memory_total_bytes")}
        self.assertEqual(got_totals, totals)
        # Per process, with its labels.
        sim = self.sim.pid
        per_proc = self.query('ttmem_process_memory_used_bytes{pid="%d"}' % sim)
        self.assertTrue(per_proc)
        for r in per_proc:
            self.assertEqual(r["metric"]["comm"], "ttmem-sim")
            self.assertTrue(r["metric"]["user"])
            dev = next(d for d in s["devices"] if str(d["id"]) == r["metric"]["device"])
            proc = next(p for p in dev["processes"] if p["pid"] == sim)
            self.assertEqual(int(float(r["value"][1])),
                             proc["memory"][r["metric"]["type"]]["used_bytes"])
        # Sums agree: the devices' DRAM is what the processes hold.
        dram = self.query('sum(ttmem_device_memory_used_bytes{type="dram"})')
        self.assertEqual(int(float(dram[0]["value"][1])),
                         sum(v for (d, t), v in expected.items() if t == "dram"))
        free_block = self.query("ttmem_device_largest_free_block_bytes")
        self.assertTrue(free_block)
        events = self.query("ttmem_events_total")
        self.assertGreater(int(float(events[0]["value"][1])), 0)

    def test_promtool_accepts_the_metrics(self):
        text = self.scrape()
        self.assertIn("ttmem_device_memory_used_bytes{", text)
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           capture_output=True)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())

    def test_grafana_dashboard_uses_only_exported_metrics(self):
        with open(os.path.join(ROOT, "packaging", "grafana", "ttmem.json")) as f:
            dash = json.load(f)
        exported = set(re.findall(r"^(ttmem_[a-z_]+)", self.scrape(), re.M))
        exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
        self.assertTrue(exprs)
        used = set()
        for e in exprs:
            used.update(re.findall(r"\bttmem_[a-z_]+", e))
        self.assertTrue(used)
        self.assertEqual(used - exported, set())
        # Every query the dashboard makes is valid PromQL for the real server.
        for e in exprs:
            e = e.replace("$device", ".*").replace("$type", ".*").replace("$__rate_interval",
                                                                          "1m")
            self.query(e)

    def test_alert_rules_use_only_exported_metrics(self):
        # The families are exported even when they have no sample (a host without stale slots).
        with open(os.path.join(ROOT, "packaging", "prometheus", "ttmem-alerts.yml")) as f:
            rules = f.read()
        exported = set(re.findall(r"^# TYPE (ttmem_[a-z_]+)", self.scrape(), re.M))
        used = set(re.findall(r"\bttmem_[a-z_]+_(?:bytes|total|anomalies)\b", rules))
        self.assertTrue(used)
        self.assertEqual(used - exported, set())
        exprs, lines = [], rules.splitlines()
        for i, line in enumerate(lines):
            key, _, rest = line.strip().partition("expr: ")
            if key or not line.strip().startswith("expr: "):
                continue
            if rest.strip() != "|":
                exprs.append(rest.strip())
                continue
            indent, block = len(line) - len(line.lstrip()), []
            for more in lines[i + 1:]:
                if len(more) - len(more.lstrip()) <= indent:
                    break
                block.append(more.strip())
            exprs.append(" ".join(block))
        self.assertEqual(len(exprs), 5)
        for e in exprs:
            self.query(e)  # valid PromQL for the real server


class PickTest(unittest.TestCase):
    """ttmem.pick on a simulated T3000 (8 chips behind 4 PCIe devices) where one process holds
    48 MiB of L1 on chip 0 (PCIe 0): 768 KiB of each of its 64 banks."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ttmem-pick-")
        self.daemon = Daemon(self.tmp)
        self.env = dict(os.environ, TTMEM_CLI=os.path.join(BIN, "ttmem"))
        self.holder = subprocess.Popen(
            [os.path.join(BIN, "ttmem-sim"), "hold", "--system", "t3000", "--hold", "0:l1:48M",
             "--checkpoints"],
            env=dict(self.env, TT_ALLOC_TRACKING_ENABLED="1", TTMEM_SOCKET=self.daemon.socket),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.assertIn(b'"held"', self.holder.stdout.readline())
        os.environ["TTMEM_CLI"] = self.env["TTMEM_CLI"]

    def tearDown(self):
        self.holder.send_signal(signal.SIGTERM)
        self.holder.communicate(b"\n", timeout=30)
        self.daemon.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        del os.environ["TTMEM_CLI"]

    def test_picks_where_the_need_fits_and_says_why_not(self):
        chosen = ttmem.pick(n=2, need={"l1": "40M"}, socket_path=self.daemon.socket)
        self.assertTrue(chosen)
        self.assertEqual(chosen.ids, [1, 2])
        self.assertEqual(chosen.env, "TT_METAL_VISIBLE_DEVICES=1,2")
        self.assertEqual(len(chosen.devices), 4)
        environ = {}
        chosen.apply(environ)
        self.assertEqual(environ, {"TT_METAL_VISIBLE_DEVICES": "1,2"})
        # All four cannot: chip 0 keeps 565 KiB of a bank free, 640 KiB are needed.
        four = ttmem.pick(n=4, need={"l1": 40 * MIB}, socket_path=self.daemon.socket)
        self.assertFalse(four)
        self.assertEqual(four.ids, [])
        self.assertIn("4 PCIe device(s) asked, 3 of 4 fit now", four.error)
        self.assertTrue(any(r.startswith("device 0 (PCIe 0): L1 needs 640 KiB per bank")
                            for r in four.reasons), four.reasons)
        with self.assertRaises(ttmem.TtmemError):
            four.apply({})
        # Per bank, and exclusive: the holder's PCIe device is out.
        self.assertEqual(ttmem.pick(n=3, need={"l1": "600K/bank"}, exclusive=True,
                                    socket_path=self.daemon.socket).ids, [1, 2, 3])

    def test_usage_errors_raise_and_say_what_was_wrong(self):
        with self.assertRaisesRegex(ttmem.TtmemError, "need has no type 'hbm'"):
            ttmem.pick(need={"hbm": 1}, socket_path=self.daemon.socket)
        with self.assertRaisesRegex(ttmem.TtmemError, "--l1 'lots' is not a size"):
            ttmem.pick(need={"l1": "lots"}, socket_path=self.daemon.socket)
        with self.assertRaisesRegex(ttmem.TtmemError, "--need"):
            ttmem.pick(need=os.path.join(self.tmp, "missing.db"), socket_path=self.daemon.socket)
        with self.assertRaisesRegex(ttmem.TtmemError, "no ttmemd answering"):
            ttmem.pick(socket_path=os.path.join(self.tmp, "none.sock"))


class HostileDaemonTest(unittest.TestCase):
    """Issue 26: the client trusted whoever served the socket. A reply that is not JSON, nested
    past what Python parses, or not an object crashed pytest sessions (only TtmemError was
    caught); a reply of a byte every few seconds hung it (the timeout was per read)."""

    def serve(self, reply, trickle=0.0):
        """A fake daemon on a fresh socket answering one request with `reply` (bytes after a
        valid header), a byte every `trickle` seconds when set. Returns the socket path."""
        import tempfile
        import threading

        d = tempfile.mkdtemp()
        path = os.path.join(d, "fake.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(1)

        def run():
            conn, _ = server.accept()
            try:
                conn.recv(65536)
                frame = struct.pack("<IHHII", 0x464D5454, 1, 17, len(reply), 0) + reply
                if trickle:
                    for b in frame:
                        conn.sendall(bytes([b]))
                        time.sleep(trickle)
                else:
                    conn.sendall(frame)
            except OSError:
                pass
            finally:
                conn.close()
                server.close()

        threading.Thread(target=run, daemon=True).start()
        return path

    def test_every_bad_reply_is_a_ttmem_error(self):
        for reply in (b"{not json", b"[" * 200000 + b"]" * 200000, b"[1, 2]", b"\xff\xfe"):
            with self.assertRaises(ttmem.TtmemError, msg=reply[:20]):
                ttmem.status(socket_path=self.serve(reply), timeout=5)

    def test_a_trickling_daemon_cannot_stretch_the_deadline(self):
        start = time.monotonic()
        with self.assertRaises(ttmem.TtmemError):
            ttmem.status(socket_path=self.serve(b"{}", trickle=0.4), timeout=1.5)
        self.assertLess(time.monotonic() - start, 3.0)

    def test_a_socket_another_user_serves_is_not_trusted(self):
        if os.geteuid() != 0:
            self.skipTest("a second user needs root to set up")
        import tempfile

        d = tempfile.mkdtemp()
        os.chmod(d, 0o777)
        path = os.path.join(d, "squat.sock")
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the squatter: nobody, answering with a made-up clean status
            try:
                os.setgid(65534)
                os.setuid(65534)
                server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                server.bind(path)
                os.chmod(path, 0o666)
                server.listen(1)
                os.write(w, b"x")
                conn, _ = server.accept()
                conn.recv(65536)
                body = b'{"version": 1, "devices": [], "processes": []}'
                conn.sendall(struct.pack("<IHHII", 0x464D5454, 1, 17, len(body), 0) + body)
                time.sleep(1)
            finally:
                os._exit(0)
        os.read(r, 1)
        try:
            with self.assertRaises(ttmem.TtmemError) as cm:
                ttmem.status(socket_path=path)
            self.assertIn("neither root nor this user", str(cm.exception))
        finally:
            os.waitpid(pid, 0)


class TtMetalImportTest(unittest.TestCase):
    """ttmem.tt_metal without ttnn: a clear ImportError, not a loader error (there is no tt-metal
    here; with one, the import loads libttmem_tt_metal.so: docs/tt-metal.md)."""

    def test_import_without_ttnn_says_what_to_do(self):
        code = "import sys; sys.path.insert(0, %r); import ttmem.tt_metal" % os.path.join(ROOT, "python")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ImportError", r.stderr)
        self.assertIn("import ttnn first", r.stderr)


if __name__ == "__main__":
    unittest.main()
