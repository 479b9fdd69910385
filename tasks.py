#!/usr/bin/env python3
"""Set up and run the bot or its tests on a machine that has only python3.

    python3 tasks.py run  [main.py arguments...]   # set up, then run the bot
    python3 tasks.py test [pytest arguments...]    # set up, then run the whole test suite
    python3 tasks.py setup                         # only set up (.venv, dependencies, catalogues)

`make` is not guaranteed on a fresh machine, so this script is the one entry point. It creates its own
virtual environment in `.venv`, installs the project with its dev extras, compiles the gettext
catalogues, and — when run as root on Debian (as CI is) — installs and starts PostgreSQL, Redis and a
CJK font so that the suite runs on every supported engine, and installs Chromium for the dashboard's
browser tests (with REQUIRE_SERVICES=1 they fail instead of skipping when it is missing).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".installed"
PG_PORT = 54329
REDIS_PORT = 63799


def say(msg: str) -> None:
    print(f"[tasks] {msg}", flush=True)


def run(cmd: list[str], **kw: object) -> None:
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def ensure_venv() -> None:
    if not PY.exists():
        say("creating virtual environment in .venv")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    say("installing dependencies (first run takes a minute)")
    quiet = {**os.environ, "PYTHONWARNINGS": "ignore"}
    run([str(PY), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--upgrade", "pip"], env=quiet)
    run([str(PY), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", f"{ROOT}[dev]"], env=quiet)
    STAMP.write_text(digest)


def compile_catalogues() -> None:
    run([str(PY), "-m", "bot.i18n", "compile"], cwd=ROOT)


def is_debian_root() -> bool:
    return os.name == "posix" and os.geteuid() == 0 and Path("/etc/debian_version").exists()


def apt_install(packages: list[str]) -> None:
    missing = [p for p in packages if subprocess.run(
        ["dpkg", "-s", p], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0]
    if not missing:
        return
    say(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env,
        stdout=subprocess.DEVNULL)


def start_postgres() -> str | None:
    clusters = sorted(Path("/etc/postgresql").glob("*/main"))
    if not clusters:
        return None
    version = clusters[-1].parent.name
    conf = clusters[-1] / "postgresql.conf"
    text = conf.read_text()
    if f"port = {PG_PORT}" not in text:
        conf.write_text(text + f"\nport = {PG_PORT}\nfsync = off\nsynchronous_commit = off\n"
                        "full_page_writes = off\nmax_connections = 200\n")
    subprocess.run(["pg_ctlcluster", version, "main", "restart"], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(30):
        ok = subprocess.run(["su", "postgres", "-c", f"psql -p {PG_PORT} -tAc 'select 1'"],
                            capture_output=True, text=True)
        if ok.returncode == 0:
            break
        time.sleep(1)
    else:
        return None
    sql = ("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='botuser') THEN "
           "CREATE ROLE botuser LOGIN SUPERUSER PASSWORD 'botpass'; END IF; END $$;")
    # SQL on stdin: `su -c` goes through a shell, which would expand the `$$` of the DO block.
    subprocess.run(["su", "postgres", "-c", f"psql -q -p {PG_PORT}"], input=sql, text=True, check=False,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["su", "postgres", "-c", f"createdb -p {PG_PORT} -O botuser bottest"], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return f"postgresql+asyncpg://botuser:botpass@127.0.0.1:{PG_PORT}/bottest"


def start_redis() -> str | None:
    server = shutil.which("redis-server")
    if not server:
        return None
    probe = subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "ping"], capture_output=True, text=True)
    if probe.stdout.strip() != "PONG":
        run([server, "--port", str(REDIS_PORT), "--daemonize", "yes", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL)
        for _ in range(20):
            probe = subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "ping"], capture_output=True, text=True)
            if probe.stdout.strip() == "PONG":
                break
            time.sleep(0.5)
        else:
            return None
    return f"redis://127.0.0.1:{REDIS_PORT}/0"


def ensure_browser() -> None:
    """Debian's Chromium for the dashboard's browser tests (Playwright drives it by its path; Playwright's
    own browser download is not used)."""
    if is_debian_root() and not Path("/usr/bin/chromium").exists():
        try:
            apt_install(["chromium", "fonts-noto-color-emoji"])
        except subprocess.CalledProcessError as exc:
            say(f"could not install chromium: {exc}")


def services_env() -> dict[str, str]:
    env: dict[str, str] = {}
    ensure_browser()
    if os.environ.get("TEST_POSTGRES_URL") or os.environ.get("TEST_REDIS_URL"):
        return env
    if not is_debian_root():
        return env
    try:
        apt_install(["postgresql", "redis-server", "fonts-noto-cjk"])
    except subprocess.CalledProcessError as exc:
        say(f"could not install PostgreSQL/Redis/fonts: {exc}")
        return env
    pg = start_postgres()
    rd = start_redis()
    if pg:
        env["TEST_POSTGRES_URL"] = pg
    if rd:
        env["TEST_REDIS_URL"] = rd
    return env


def setup() -> None:
    ensure_venv()
    compile_catalogues()


def cmd_run(args: list[str]) -> int:
    setup()
    return subprocess.call([str(PY), str(ROOT / "main.py"), *args], cwd=ROOT)


def cmd_test(args: list[str]) -> int:
    setup()
    env = {**os.environ, **services_env()}
    if not env.get("TEST_POSTGRES_URL") or not env.get("TEST_REDIS_URL"):
        if env.get("REQUIRE_SERVICES") == "1":
            say("REQUIRE_SERVICES=1 but PostgreSQL/Redis could not be started")
            return 1
        say("PostgreSQL/Redis not available here: testing SQLite only "
            "(set TEST_POSTGRES_URL / TEST_REDIS_URL, or run as root on Debian)")
    say("ruff check")
    lint = subprocess.call([str(PY), "-m", "ruff", "check", "."], cwd=ROOT)
    if lint != 0:
        return lint
    say("mypy")
    types = subprocess.call([str(PY), "-m", "mypy", "bot", "handlers", "models"], cwd=ROOT)
    if types != 0:
        return types
    say("pytest")
    return subprocess.call([str(PY), "-m", "pytest", *args], cwd=ROOT, env=env)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "run":
        return cmd_run(rest)
    if command == "test":
        return cmd_test(rest)
    if command == "setup":
        setup()
        return 0
    print(f"unknown command {command!r}; use run, test or setup", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
