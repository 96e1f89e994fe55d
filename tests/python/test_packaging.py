"""The Python package as users install it: `pip install ./python` into a fresh virtual environment
(offline, with build isolation), then real pytest runs with the plugin against a real ttmemd —
tests that leak fail naming the leak, clean ones pass, no daemon is a skip with the reason.

Run by ctest (Python.Packaging) with a Python that has pytest (Debian's python3-pytest) and
TTMEM_BIN_DIR / TTMEM_LIB_DIR set to the build's directories."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BIN = os.environ.get("TTMEM_BIN_DIR", os.path.join(ROOT, "build", "bin"))
LIB = os.environ.get("TTMEM_LIB_DIR", os.path.join(ROOT, "build", "lib"))

# Tests as a user writes them: this process reports through libttmem (ctypes stands in for
# tt-metal), in op scopes.
SAMPLE = textwrap.dedent('''
    import ctypes, os
    import pytest
    import ttmem

    lib = ctypes.CDLL(os.environ["TTMEM_LIB"])
    lib.ttmem_alloc.argtypes = [ctypes.c_uint32, ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64,
                                ctypes.c_uint64]
    lib.ttmem_free.argtypes = [ctypes.c_uint32, ctypes.c_uint64]
    DRAM, L1, MIB = 0, 1, 1 << 20

    @pytest.fixture(scope="session")
    def device():
        lib.ttmem_alloc(0, DRAM, 1, 0x100000, 8 * MIB)   # held for the session: not a leak
        yield 0
        lib.ttmem_free(0, 1)

    def test_clean(device):
        with ttmem.scope("ttnn::add"):
            lib.ttmem_alloc(0, DRAM, 10, 0x1000, MIB)
        lib.ttmem_free(0, 10)

    def test_leaky(device):
        with ttmem.scope("ttnn::leaky_op"):
            lib.ttmem_alloc(0, L1, 20, 0x2000, 3 * MIB)

    @pytest.mark.ttmem_allow_leaks
    def test_allowed(device):
        lib.ttmem_alloc(0, DRAM, 30, 0x3000, MIB)

    def test_fixture_catches_it(ttmem_leak_check):
        lib.ttmem_alloc(1, DRAM, 40, 0x4000, 2 * MIB)

    def test_fixture_passes(ttmem_leak_check):
        lib.ttmem_alloc(1, DRAM, 50, 0x5000, MIB)
        lib.ttmem_free(1, 50)
''')


def _python_with_pytest():
    for py in (os.environ.get("TTMEM_TEST_PYTHON"), "/usr/bin/python3", sys.executable):
        if py and os.path.exists(py) and subprocess.run(
                [py, "-c", "import pytest, venv, ensurepip"], capture_output=True).returncode == 0:
            return py
    return None


class PipAndPytestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.python = _python_with_pytest()
        if cls.python is None:
            raise unittest.SkipTest("no Python with pytest and venv (Debian: python3-pytest "
                                    "python3-venv; ./scripts/deps.sh installs them)")
        cls.tmp = tempfile.mkdtemp(prefix="ttmem-pip-")
        cls.venv = os.path.join(cls.tmp, "venv")
        subprocess.run([cls.python, "-m", "venv", "--system-site-packages", cls.venv],
                       check=True, capture_output=True)
        cls.vpy = os.path.join(cls.venv, "bin", "python")
        # Offline, with build isolation (pip's default): the backend needs nothing to download.
        cls.pip = subprocess.run([cls.vpy, "-m", "pip", "install", "--no-index",
                                  os.path.join(ROOT, "python")],
                                 capture_output=True, text=True, timeout=300,
                                 env=dict(os.environ, PIP_NO_INDEX="1"))
        cls.socket = os.path.join(cls.tmp, "ttmemd.sock")
        cls.log = open(os.path.join(cls.tmp, "ttmemd.log"), "w")
        cls.daemon = subprocess.Popen(
            [os.path.join(BIN, "ttmemd"), "--socket", cls.socket, "--shm-dir", "",
             "--driver-dir", os.path.join(cls.tmp, "nodriver")], stdout=cls.log, stderr=cls.log)
        for _ in range(100):
            if os.path.exists(cls.socket):
                break
            time.sleep(0.05)
        with open(os.path.join(cls.tmp, "test_sample.py"), "w") as f:
            f.write(SAMPLE)

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "daemon", None):
            cls.daemon.send_signal(signal.SIGTERM)
            cls.daemon.wait(10)
            cls.log.close()
        shutil.rmtree(getattr(cls, "tmp", ""), ignore_errors=True)

    def pytest(self, *args, socket=None):
        env = dict(os.environ, TT_ALLOC_TRACKING_ENABLED="1", TTMEM_SOCKET=socket or self.socket,
                   TTMEM_LIB=os.path.join(LIB, "libttmem.so"))
        env.pop("PYTHONPATH", None)
        return subprocess.run([self.vpy, "-m", "pytest", "-p", "no:cacheprovider", "-rA",
                               "test_sample.py"] + list(args),
                              cwd=self.tmp, capture_output=True, text=True, timeout=300, env=env)

    def test_pip_installs_the_package_and_its_plugin(self):
        self.assertEqual(self.pip.returncode, 0, self.pip.stdout + self.pip.stderr)
        r = subprocess.run([self.vpy, "-c", "import ttmem, ttmem.pytest_plugin; "
                            "print(ttmem.__file__, ttmem.__version__)"],
                           capture_output=True, text=True, cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(os.path.join(self.venv, "lib"), r.stdout)  # the installed copy
        with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
            version = re.search(r"project\(ttmem VERSION (\S+)", f.read()).group(1)
        self.assertTrue(r.stdout.strip().endswith(version), r.stdout)
        h = subprocess.run([self.vpy, "-m", "pytest", "--help"], capture_output=True, text=True,
                           cwd=self.tmp)
        self.assertIn("--ttmem-no-leaks", h.stdout)

    def test_no_leaks_fails_the_leaking_tests_and_names_the_leak(self):
        r = self.pytest("--ttmem-no-leaks")
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 1, out)
        self.assertIn("ttmem: every test is checked", out)
        self.assertRegex(out, r"PASSED test_sample.py::test_clean")
        self.assertRegex(out, r"PASSED test_sample.py::test_allowed")
        self.assertRegex(out, r"PASSED test_sample.py::test_fixture_passes")
        self.assertRegex(out, r"ERROR test_sample.py::test_leaky")
        self.assertIn("device 0 l1: 3145728 bytes more than before the block", out)
        self.assertIn("(op ttnn::leaky_op)", out)
        self.assertIn("device 1 dram: 2097152 bytes more than before the block", out)
        # The session fixture's 8 MiB is not blamed on the first test.
        self.assertNotIn("8388608 bytes more", out)

    def test_off_by_default(self):
        r = self.pytest()
        self.assertEqual(r.returncode, 1, r.stdout)  # only the fixture's own check fails
        self.assertRegex(r.stdout, r"PASSED test_sample.py::test_leaky")
        self.assertRegex(r.stdout, r"(FAILED|ERROR) test_sample.py::test_fixture_catches_it")

    def test_no_daemon_is_a_skip_with_the_reason_never_a_hang(self):
        t0 = time.monotonic()
        r = self.pytest("--ttmem-no-leaks", "-k", "clean or leaky or fixture",
                        socket=os.path.join(self.tmp, "nothing.sock"))
        out = r.stdout + r.stderr
        self.assertLess(time.monotonic() - t0, 120)
        self.assertEqual(r.returncode, 0, out)
        self.assertIn("ttmem: leak checks skipped: cannot reach ttmemd", out)
        self.assertRegex(out, r"SKIPPED \[1\] test_sample.py:\d+: ttmem: no leak check: cannot "
                              r"reach ttmemd")


if __name__ == "__main__":
    unittest.main()
