"""ttmem's pytest plugin: fail a test that leaves Tenstorrent device memory behind.

Registered through the ``pytest11`` entry point when the package is installed (``pip install
./python``, the Debian package, ``cmake --install``); off until asked for::

    pytest --ttmem-no-leaks                 # every test
    pytest --ttmem-no-leaks --ttmem-tolerance 4096 --ttmem-settle 1.0

or for one test, the ``ttmem_leak_check`` fixture::

    def test_model(ttmem_leak_check):
        run_model_once()

A test leaks when, after its teardown, this process holds more device memory (per device and
memory type, as ttmemd counts it) than when the test's body began: what its fixtures set up before
the body (a device opened once per session, cached weights) is not counted against it. The
failure names the device, the type, the bytes and the largest live buffers with their ops. When
no ttmemd answers, the check is skipped with the reason (never a hang: the query times out).
"""

import pytest

import ttmem

_BEFORE = "_ttmem_leak_check"


def pytest_addoption(parser):
    group = parser.getgroup("ttmem", "Tenstorrent device memory (ttmem)")
    group.addoption("--ttmem-no-leaks", action="store_true", default=False,
                    help="fail a test whose process still holds more device memory after it "
                         "than when its body began (needs a running ttmemd)")
    group.addoption("--ttmem-tolerance", type=int, default=0, metavar="BYTES",
                    help="growth allowed per device and memory type (default 0)")
    group.addoption("--ttmem-settle", type=float, default=0.5, metavar="SECONDS",
                    help="how long to wait for frees to reach ttmemd before deciding (default "
                         "0.5)")
    group.addoption("--ttmem-socket", default=None, metavar="PATH",
                    help="ttmemd's socket (default: $TTMEM_SOCKET, else ttmem's default)")


def _check(config):
    return ttmem.LeakCheck(tolerance_bytes=config.getoption("--ttmem-tolerance"),
                           settle_s=config.getoption("--ttmem-settle"),
                           socket_path=config.getoption("--ttmem-socket"))


def pytest_configure(config):
    config.addinivalue_line("markers",
                            "ttmem_allow_leaks: not checked by --ttmem-no-leaks (a test that "
                            "keeps memory on purpose)")
    config._ttmem_unavailable = None
    if config.getoption("--ttmem-no-leaks"):
        try:
            ttmem.status(config.getoption("--ttmem-socket"), timeout=5.0)
        except ttmem.TtmemError as e:
            config._ttmem_unavailable = str(e)


def pytest_report_header(config):
    if not config.getoption("--ttmem-no-leaks"):
        return None
    if config._ttmem_unavailable:
        return "ttmem: leak checks skipped: %s" % config._ttmem_unavailable
    return "ttmem: every test is checked for device memory left behind"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    config = item.config
    if (config.getoption("--ttmem-no-leaks") and not config._ttmem_unavailable
            and item.get_closest_marker("ttmem_allow_leaks") is None):
        check = _check(config)
        try:
            check.__enter__()
            setattr(item, _BEFORE, check)
        except ttmem.TtmemError as e:
            item.add_report_section("call", "ttmem", "leak check skipped: %s" % e)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    check = getattr(item, _BEFORE, None)
    if check is None:
        return
    delattr(item, _BEFORE)
    try:
        check.__exit__(None, None, None)
    except ttmem.DeviceMemoryLeak as e:
        pytest.fail("ttmem: %s" % e, pytrace=False)
    except ttmem.TtmemError as e:
        item.add_report_section("teardown", "ttmem", "leak check skipped: %s" % e)


@pytest.fixture
def ttmem_leak_check(request):
    """Fails the test when, after it, this process holds more device memory than before its body
    (the same check as --ttmem-no-leaks, for one test). Skips the test when no ttmemd answers."""
    check = _check(request.config)
    try:
        check.__enter__()
    except ttmem.TtmemError as e:
        pytest.skip("ttmem: no leak check: %s" % e)
    yield check
    try:
        check.__exit__(None, None, None)
    except ttmem.DeviceMemoryLeak as e:
        pytest.fail("ttmem: %s" % e, pytrace=False)
