"""ttmem from Python: who holds Tenstorrent device memory, and a leak check for tests.

Standard library only. Talks to ttmemd over its Unix socket (docs/protocol.md)::

    import ttmem
    s = ttmem.status()                       # the `ttmem status --json` document, as dicts
    for d in s["devices"]:
        print(d["id"], d["memory"]["dram"]["used_bytes"])

    with ttmem.no_leaks():                   # fails when the block leaves device memory behind
        run_model_once()

The leak check compares what one process (by default this one) holds on each device and memory
type before and after the block, after the daemon has applied everything the process reported.

Why memory is held: allocations this thread makes inside a scope carry its name as their op
(libttmem's ttmem_scope_push / pop; `ttmem status`, `top`, the snapshot and recordings show it)::

    with ttmem.scope("prefill"):             # also a decorator: @ttmem.scope("prefill")
        model.prefill(tokens)
    ttmem.mark("iteration")                  # a phase marker in the recording

At out of memory, what held the memory (every live buffer with its op, who holds each device's
memory, the largest free block)::

    with ttmem.oom_snapshot():               # also a decorator; or ttmem.install_oom_hook()
        model(x)                             # tt-metal's OOM / CB-clash error: the snapshot is
                                             # saved, its summary printed, the error re-raised

Which devices to use on a shared host, before ``ttnn.open_device`` (issue 28)::

    chosen = ttmem.pick(n=2, need="last.db")  # a recording, or {"l1": "40M", "trace": "300K/bank"}
    if not chosen:
        raise SystemExit("\n".join(chosen.reasons))
    chosen.apply()                           # os.environ["TT_METAL_VISIBLE_DEVICES"] = "2,3"

They reach libttmem in this process (the one tt-metal's allocations go through): already loaded,
else $TTMEM_LIB, else the loader's libttmem.so. Without it they do nothing (never an error).
"""

import ctypes
import json
import functools
import os
import socket as _socket
import struct
import time


__version__ = "0.1.0"  # the same as CMakeLists.txt project(VERSION); a test checks
__all__ = [
    "status", "buffers", "process_usage", "default_socket_path", "no_leaks", "LeakCheck",
    "DeviceMemoryLeak", "TtmemError", "scope", "mark", "snapshot", "is_out_of_memory",
    "oom_snapshot", "install_oom_hook", "pick", "Pick",
]

_MAGIC = 0x464D5454  # "TTMF"
_WIRE_VERSION = 1
_QUERY = 16
_QUERY_REPLY = 17
_HEADER = struct.Struct("<IHHII")
_MAX_REPLY = 256 * 1024 * 1024


class TtmemError(RuntimeError):
    """ttmemd could not be reached or answered something unexpected."""


class DeviceMemoryLeak(AssertionError):
    """A block left device memory behind. `left` maps (device, type) to bytes still held."""

    def __init__(self, message, left, buffers):
        super().__init__(message)
        self.left = left
        self.buffers = buffers


def default_socket_path():
    """The socket ttmemd listens on: $TTMEM_SOCKET, else the same default as `ttmem`."""
    env = os.environ.get("TTMEM_SOCKET")
    if env:
        return env
    if os.geteuid() == 0 or os.path.isdir("/run/ttmem"):
        return "/run/ttmem/ttmemd.sock"
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg.startswith("/"):
        return xdg + "/ttmemd.sock"
    return "/tmp/ttmem-%d/ttmemd.sock" % os.geteuid()


def _recv_exact(sock, n, deadline=None):
    """n bytes, or TtmemError; with `deadline` (time.monotonic()), the whole read must end by
    then: a peer trickling a byte at a time cannot stretch the timeout per read."""
    chunks = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _socket.timeout()
            sock.settimeout(left)
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise TtmemError("ttmemd closed the connection mid-reply")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _peer_is_trusted(sock):
    """True when the process serving the socket is root or this user (SO_PEERCRED), as libttmem
    requires: a socket another user squats on must not answer for ttmemd."""
    import struct

    cred = getattr(_socket, "SO_PEERCRED", None)
    if cred is None:
        return True  # not Linux: nothing to ask
    pid, uid, gid = struct.unpack("3i", sock.getsockopt(_socket.SOL_SOCKET, cred,
                                                        struct.calcsize("3i")))
    return uid == 0 or uid == os.geteuid()


def _request(request, socket_path=None, timeout=5.0):
    import json

    path = socket_path or default_socket_path()
    deadline = time.monotonic() + timeout  # for the whole request, not each read
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except OSError as e:
            raise TtmemError(
                "cannot reach ttmemd at %s (%s): start it with `ttmemd &`, or set TTMEM_SOCKET"
                % (path, e.strerror or e)) from None
        if not _peer_is_trusted(sock):
            raise TtmemError("the process serving %s is neither root nor this user: not trusted "
                             "as ttmemd (set TTMEM_SOCKET to your daemon's socket)" % path)
        payload = json.dumps(request).encode()
        sock.sendall(_HEADER.pack(_MAGIC, _WIRE_VERSION, _QUERY, len(payload), 0) + payload)
        magic, version, ftype, length, _ = _HEADER.unpack(
            _recv_exact(sock, _HEADER.size, deadline))
        if magic != _MAGIC or version != _WIRE_VERSION or ftype != _QUERY_REPLY:
            raise TtmemError("unexpected reply from %s (is it a ttmemd of this version?)" % path)
        if length > _MAX_REPLY:
            raise TtmemError("reply of %d bytes from %s is too large" % (length, path))
        reply = json.loads(_recv_exact(sock, length, deadline))
    except _socket.timeout:
        raise TtmemError("ttmemd at %s did not answer within %.1f s" % (path, timeout)) from None
    except (ValueError, RecursionError) as e:  # not JSON, or nested past what Python parses
        raise TtmemError("ttmemd at %s sent a reply that is not a JSON document (%s)"
                         % (path, str(e)[:200])) from None
    except OSError as e:
        raise TtmemError("talking to ttmemd at %s failed: %s" % (path, e)) from None
    finally:
        sock.close()
    if not isinstance(reply, dict):
        raise TtmemError("ttmemd at %s sent a %s where a JSON object was expected"
                         % (path, type(reply).__name__))
    if "error" in reply:
        raise TtmemError("ttmemd: %s" % reply["error"])
    return reply


def status(socket_path=None, timeout=5.0):
    """The daemon's status document (devices, memory by type, processes), as dicts and lists.

    Everything a client published before the call is in the answer."""
    return _request({"cmd": "status"}, socket_path, timeout)


def buffers(pid, limit=20, socket_path=None, timeout=5.0):
    """The largest live buffers of process `pid`, largest first (at most `limit`)."""
    return _request({"cmd": "buffers", "pid": int(pid), "limit": int(limit)}, socket_path,
                    timeout)


def process_usage(doc, pid):
    """{(device, type): used bytes} that process `pid` holds in a status document (non-zero
    entries only; capture estimates are not device memory and are left out)."""
    usage = {}
    for device in doc.get("devices", []):
        for proc in device.get("processes", []):
            if proc.get("pid") != pid:
                continue
            for mem_type, m in proc.get("memory", {}).items():
                used = m.get("used_bytes") or 0
                if used:
                    usage[(device["id"], mem_type)] = used
    return usage


class LeakCheck:
    """Context manager: fails with DeviceMemoryLeak when the block leaves device memory behind.

    pid: the process to watch (default: this one). devices / types: only these (default: all).
    tolerance_bytes: growth allowed per (device, type). settle_s: how long to wait for frees to
    reach the daemon before deciding. If the block raises, its exception goes through unchanged.
    """

    def __init__(self, pid=None, devices=None, types=None, tolerance_bytes=0, settle_s=2.0,
                 socket_path=None):
        self.pid = os.getpid() if pid is None else int(pid)
        self.devices = None if devices is None else set(devices)
        self.types = None if types is None else set(types)
        self.tolerance = int(tolerance_bytes)
        self.settle_s = float(settle_s)
        self.socket_path = socket_path
        self.before = {}
        self.left = {}

    def _usage(self):
        usage = process_usage(status(self.socket_path), self.pid)
        return {k: v for k, v in usage.items()
                if (self.devices is None or k[0] in self.devices)
                and (self.types is None or k[1] in self.types)}

    def _grown(self, now):
        return {k: v - self.before.get(k, 0) for k, v in now.items()
                if v - self.before.get(k, 0) > self.tolerance}

    def __enter__(self):
        self.before = self._usage()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            return False
        deadline = time.monotonic() + self.settle_s
        while True:
            self.left = self._grown(self._usage())
            if not self.left or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if not self.left:
            return False
        try:
            largest = buffers(self.pid, 10, self.socket_path).get("buffers", [])
        except TtmemError:
            largest = []
        lines = ["device %s %s: %d bytes more than before the block" % (d, t, b)
                 for (d, t), b in sorted(self.left.items())]
        for b in largest:
            if (b.get("device"), b.get("type")) in self.left:
                lines.append("  live: buffer %s on device %s, %s, %d bytes at 0x%x%s"
                             % (b["id"], b["device"], b["type"], b["size"], b["address"],
                                " (op %s)" % b["op"] if b.get("op") else ""))
        raise DeviceMemoryLeak("device memory left behind by pid %d:\n%s"
                               % (self.pid, "\n".join(lines)), self.left, largest)


def no_leaks(**kwargs):
    """`with ttmem.no_leaks(): ...` — see LeakCheck."""
    return LeakCheck(**kwargs)


_LIBTTMEM = None  # the loaded library, False when none could be loaded


def _libttmem():
    global _LIBTTMEM
    if _LIBTTMEM is None:
        _LIBTTMEM = False
        for candidate in (os.environ.get("TTMEM_LIB"), "libttmem.so"):
            if not candidate:
                continue
            try:
                lib = ctypes.CDLL(candidate)
            except OSError:
                continue
            lib.ttmem_scope_push.argtypes = [ctypes.c_char_p]
            lib.ttmem_scope_push.restype = ctypes.c_int
            lib.ttmem_scope_pop.argtypes = []
            lib.ttmem_scope_pop.restype = None
            lib.ttmem_mark.argtypes = [ctypes.c_char_p]
            lib.ttmem_mark.restype = ctypes.c_int
            _LIBTTMEM = lib
            break
    return _LIBTTMEM or None


def _name_bytes(name):
    return name.encode("utf-8", "replace") if isinstance(name, str) else bytes(name)


class scope:
    """Names the allocations this thread makes inside: ``with ttmem.scope("decode"): ...`` or
    ``@ttmem.scope("decode")``. Nests; each thread has its own scopes."""

    def __init__(self, name):
        self.name = _name_bytes(name)
        self._pushed = []

    def __enter__(self):
        lib = _libttmem()
        if lib is not None:
            lib.ttmem_scope_push(self.name)  # every push is popped, refused or not
        self._pushed.append(lib)
        return self

    def __exit__(self, *exc):
        lib = self._pushed.pop()
        if lib is not None:
            lib.ttmem_scope_pop()
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with scope(self.name):
                return func(*args, **kwargs)

        return wrapper


def mark(name):
    """A phase marker ("iteration 3") in order with this thread's allocations. True when it was
    made (tracking on, libttmem loaded)."""
    lib = _libttmem()
    return lib is not None and lib.ttmem_mark(_name_bytes(name)) == 0


# tt-metal's allocation failures: the bank allocator's out-of-memory error and the circular-buffer
# errors of a program's CB layout (the same test as libttmem's ttmem_is_out_of_memory).
def is_out_of_memory(error):
    """True when `error` (an exception or its text) is one of tt-metal's allocation failures:
    "Out of Memory: Not enough space ..." or statically allocated circular buffers that clash with
    L1 buffers / grow beyond the L1 size."""
    text = str(error)
    return "Out of Memory: Not enough space" in text or (
        "Statically allocated circular buffers" in text
        and ("clash with L1 buffers" in text or "beyond max L1 size" in text))


def snapshot(pid=None, path=None, reason=None, socket_path=None, timeout=10.0):
    """The forensic snapshot of process `pid` (default: this one): every live buffer with its
    op, its memory by op, and per device and type it uses everyone's usage, the holders, the
    largest free block and free blocks by size (docs/protocol.md, "snapshot"); its "summary" is
    the short text. Also written to `path` as JSON when given: a new file (an existing one, a
    symbolic link or a FIFO there is refused with OSError), mode 0600. Raises TtmemError."""
    import json

    request = {"cmd": "snapshot", "pid": int(pid if pid is not None else os.getpid())}
    if reason is not None:
        request["reason"] = str(reason)[:4096].encode("utf-8", "ignore")[:4096].decode(
            "utf-8", "ignore")
    doc = _request(request, socket_path, timeout)
    if path is not None:
        with _create_user_file(path) as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    return doc


def _create_user_file(path):
    """`path` opened for writing as a new file only this user may read: never an existing file nor
    one a link points at (O_EXCL), never through a link (O_NOFOLLOW), never waiting on a FIFO
    (O_NONBLOCK)."""
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    return os.fdopen(os.open(path, flags, 0o600), "w")


def _user_dir():
    """This user's directory for snapshots when TTMEM_SNAPSHOT_DIR is unset: $XDG_RUNTIME_DIR, else
    /tmp/ttmem-UID (made 0700), either only if it is a directory (not a link) this user owns that
    nobody else may enter."""
    import stat

    uid = os.geteuid()

    def owned(d):
        try:
            st = os.lstat(d)
        except OSError:
            return False
        return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and (st.st_mode & 0o077) == 0

    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and xdg.startswith("/") and owned(xdg):
        return xdg
    d = "/tmp/ttmem-%d" % uid
    try:
        os.mkdir(d, 0o700)
    except OSError:
        pass
    if not owned(d):
        raise OSError("%s is not a directory of this user's that only it may enter "
                      "(set TTMEM_SNAPSHOT_DIR)" % d)
    return d


def _snapshot_path(directory):
    import secrets

    directory = directory or os.environ.get("TTMEM_SNAPSHOT_DIR") or _user_dir()
    return os.path.join(directory, "ttmem-oom-%d-%d-%s.json" % (
        os.getpid(), int(time.time() * 1000), secrets.token_hex(4)))


def _snapshot_at_oom(error, directory, socket_path, stream):
    """Saves the snapshot for `error` when it is an out-of-memory error. Returns (path, doc), or
    (None, None) when it is not one, snapshots are off (TTMEM_OOM_SNAPSHOT=0) or none could be
    taken (said on `stream`)."""
    import sys

    stream = stream or sys.stderr
    if not is_out_of_memory(error) or os.environ.get("TTMEM_OOM_SNAPSHOT") == "0":
        return None, None
    try:
        path = _snapshot_path(directory)
        doc = snapshot(path=path, reason=str(error), socket_path=socket_path)
    except (TtmemError, OSError) as e:
        stream.write("ttmem: out of memory, but no snapshot: %s\n" % e)
        return None, None
    stream.write("ttmem: out of memory; what this process held:\n%sttmem: snapshot saved to %s\n"
                 % (doc.get("summary", ""), path))
    note = getattr(error, "add_note", None)
    if note is not None:
        note("ttmem: snapshot saved to %s" % path)
    return path, doc


class oom_snapshot:
    """``with ttmem.oom_snapshot(): ...`` or ``@ttmem.oom_snapshot()``: when the block raises one
    of tt-metal's out-of-memory errors, saves this process's snapshot while the block's tensors
    are still held (the traceback keeps them), as ttmem-oom-PID-MS-RANDOM.json (a new file,
    mode 0600) in `directory` ($TTMEM_SNAPSHOT_DIR, else this user's runtime directory:
    $XDG_RUNTIME_DIR or /tmp/ttmem-UID), prints its summary on stderr and lets the
    error go on. `.path` and `.snapshot` say what was saved (None when nothing was)."""

    def __init__(self, directory=None, socket_path=None, stream=None):
        self.directory = directory
        self.socket_path = socket_path
        self.stream = stream
        self.path = None
        self.snapshot = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None:
            self.path, self.snapshot = _snapshot_at_oom(exc, self.directory, self.socket_path,
                                                        self.stream)
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with oom_snapshot(self.directory, self.socket_path, self.stream):
                return func(*args, **kwargs)

        return wrapper


def install_oom_hook(directory=None, socket_path=None):
    """Saves the snapshot (as oom_snapshot does) for an out-of-memory error nobody catches,
    before Python prints it: wraps sys.excepthook. Returns the hook it replaced."""
    import sys

    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        _snapshot_at_oom(exc, directory, socket_path, None)
        previous(exc_type, exc, tb)

    sys.excepthook = hook
    return previous


class Pick:
    """`ttmem pick`'s decision: ``ids`` (PCIe device ids, what TT_METAL_VISIBLE_DEVICES names),
    ``reasons`` (one line per device that could not take the need), ``error`` (the headline when
    nothing was picked), ``devices`` (every device's figures, as `ttmem pick --format json` has
    them) and ``env`` ("TT_METAL_VISIBLE_DEVICES=2,3"). True when devices were picked."""

    def __init__(self, doc):
        self.doc = doc
        self.ids = [int(i) for i in doc.get("picked", [])]
        self.reasons = [str(r) for r in doc.get("reasons", [])]
        self.error = doc.get("error")
        self.devices = doc.get("devices", [])
        self.env = doc.get("env")

    def __bool__(self):
        return bool(self.ids)

    def __repr__(self):
        return "Pick(ids=%r, reasons=%r)" % (self.ids, self.reasons)

    def apply(self, environ=None):
        """Sets TT_METAL_VISIBLE_DEVICES (in `environ`, default os.environ) to the ids picked;
        raises TtmemError when none were."""
        if not self.ids:
            raise TtmemError("ttmem pick: %s" % (self.error or "nothing picked"))
        (os.environ if environ is None else environ)["TT_METAL_VISIBLE_DEVICES"] = ",".join(
            str(i) for i in self.ids)
        return self


def _ttmem_command():
    import shutil

    command = os.environ.get("TTMEM_CLI") or shutil.which("ttmem")
    if not command:
        raise TtmemError("cannot find the ttmem command: install ttmem (it puts ttmem on PATH) "
                         "or set TTMEM_CLI to its path")
    return command


def pick(n=1, need=None, exclusive=False, arch=None, socket_path=None, timeout=30.0):
    """The PCIe devices whose chips can hold `need` now, as `ttmem pick` decides (it runs it).

    `need`: None (the most headroom), the path of a recording (`ttmem record`) or of a report it
    saved with --json (the advisor's per-bank peaks), or a dict of "dram", "l1", "l1_small",
    "trace" to bytes over the type's banks (an int, or "40M") or per bank ("640K/bank").
    `exclusive`: only devices no process holds open. Returns a Pick (false when nothing fits,
    with the reasons); raises TtmemError for a usage error or when no daemon answers."""
    import subprocess

    args = [_ttmem_command(), "pick", "-n", str(int(n)), "--format", "json"]
    if socket_path or os.environ.get("TTMEM_SOCKET"):
        args += ["--socket", socket_path or os.environ["TTMEM_SOCKET"]]
    if isinstance(need, dict):
        for key, value in need.items():
            if key not in ("dram", "l1", "l1_small", "trace"):
                raise TtmemError("pick: need has no type %r (dram, l1, l1_small or trace)" % key)
            args += ["--" + key.replace("_", "-"), str(value)]
    elif need is not None:
        args += ["--need", os.fspath(need)]
    if exclusive:
        args.append("--exclusive")
    if arch:
        args += ["--arch", str(arch)]
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise TtmemError("ttmem pick did not run: %s" % e) from None
    err = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode not in (0, 1):
        raise TtmemError(err or "ttmem pick failed (exit %d)" % done.returncode)
    try:
        doc = json.loads(done.stdout.decode("utf-8", "replace"))
    except ValueError:
        raise TtmemError("ttmem pick printed no JSON: %s" % err) from None
    return Pick(doc)
