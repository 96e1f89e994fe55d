"""A PEP 517 build backend for the ttmem package that needs nothing beyond the standard library,
so that `pip install ./python` works offline with build isolation (no setuptools to download).

Builds a pure-Python wheel (py3-none-any) of ttmem/ with its metadata and the pytest11 entry
point, and an sdist of this directory. The version is ttmem/__init__.py's __version__.
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NAME = "ttmem"


def _version():
    with open(os.path.join(_HERE, "ttmem", "__init__.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M)
    if not m:
        raise RuntimeError("ttmem/__init__.py has no __version__")
    return m.group(1)


def _metadata():
    with open(os.path.join(_HERE, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return ("Metadata-Version: 2.1\n"
            "Name: %s\n"
            "Version: %s\n"
            "Summary: Who holds Tenstorrent device memory: ttmemd's Python client, leak checks "
            "and a pytest plugin\n"
            "Requires-Python: >=3.8\n"
            "Description-Content-Type: text/markdown\n"
            "\n%s" % (_NAME, _version(), readme))


_ENTRY_POINTS = "[pytest11]\nttmem = ttmem.pytest_plugin\n"
_WHEEL = ("Wheel-Version: 1.0\nGenerator: ttmem_backend\nRoot-Is-Purelib: true\n"
          "Tag: py3-none-any\n")


def _dist_info():
    return "%s-%s.dist-info" % (_NAME, _version())


def _package_files():
    out = []
    for name in sorted(os.listdir(os.path.join(_HERE, "ttmem"))):
        if name.endswith(".py"):
            out.append(("ttmem/" + name, os.path.join(_HERE, "ttmem", name)))
    return out


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (path, digest, len(data))


def _write_metadata_dir(directory):
    info = os.path.join(directory, _dist_info())
    os.makedirs(info, exist_ok=True)
    for name, text in (("METADATA", _metadata()), ("WHEEL", _WHEEL),
                       ("entry_points.txt", _ENTRY_POINTS), ("top_level.txt", "ttmem\n")):
        with open(os.path.join(info, name), "w", encoding="utf-8") as f:
            f.write(text)
    return _dist_info()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _write_metadata_dir(metadata_directory)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    return _write_metadata_dir(metadata_directory)


def _build(wheel_directory, files):
    wheel = "%s-%s-py3-none-any.whl" % (_NAME, _version())
    info = _dist_info()
    entries = list(files) + [
        (info + "/METADATA", _metadata().encode()),
        (info + "/WHEEL", _WHEEL.encode()),
        (info + "/entry_points.txt", _ENTRY_POINTS.encode()),
        (info + "/top_level.txt", b"ttmem\n"),
    ]
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in entries:
            z.writestr(path, data)
            record.append(_record_line(path, data))
        record.append(info + "/RECORD,,")
        z.writestr(info + "/RECORD", "\n".join(record) + "\n")
    return wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = []
    for path, full in _package_files():
        with open(full, "rb") as f:
            files.append((path, f.read()))
    return _build(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # A .pth file putting this directory on sys.path: edits take effect without reinstalling.
    return _build(wheel_directory, [("ttmem_editable.pth", (_HERE + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    base = "%s-%s" % (_NAME, _version())
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in ["pyproject.toml", "README.md", "_build_backend/ttmem_backend.py"] + [
                p for p, _ in _package_files()]:
            t.add(os.path.join(_HERE, rel), arcname=base + "/" + rel)
        pkg_info = _metadata().encode()
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(pkg_info)
        t.addfile(ti, io.BytesIO(pkg_info))
    return name
