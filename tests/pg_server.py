"""A throwaway PostgreSQL + PostGIS server on loopback for the tests (started and stopped here).

`make install` installs Debian's postgresql-15 and postgresql-15-postgis-3. As root the server
runs as the `postgres` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found and glob.glob("/usr/share/postgresql/*/extension/postgis.control"):
        return Path(found[-1]).parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgis_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh database with PostGIS, on 127.0.0.1."""
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL/PostGIS binaries not found; run make install")
    root = Path(tempfile.mkdtemp(prefix="clusterscape-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else os.environ.get("USER", "postgres")
    if as_root:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    port = _free_port()
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-w",
            "-l",
            str(root / "log"),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        psql = [
            *prefix,
            str(bindir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            user,
            "-v",
            "ON_ERROR_STOP=1",
        ]
        subprocess.run(
            [*psql, "-d", "postgres", "-c", "CREATE DATABASE cs"], check=True, capture_output=True
        )
        subprocess.run(
            [*psql, "-d", "cs", "-c", "CREATE EXTENSION postgis"], check=True, capture_output=True
        )
        yield f"postgresql://{user}@127.0.0.1:{port}/cs"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
