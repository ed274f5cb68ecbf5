"""The production topology on one machine: nginx in front of two daphne processes.

``make cluster`` (``python -m devtools.cluster``) runs it on PostgreSQL + Redis
(DATABASE_URL, REDIS_URL and SECRET_KEY required) and prints the URL;
tests/test_nginx_cluster.py runs the same nginx configuration in front of its own stack.

nginx runs as the current user from a generated main configuration under a temporary
directory (pid, logs, temp paths) that includes deploy/nginx/medical-booking.conf, the
file an operator installs, with only its lines marked ``# cluster:`` rewritten (listen
port, upstream ports, static root). So the site tested here is the site deployed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "medical-booking.conf"
MIME_TYPES = Path("/etc/nginx/mime.types")
# nginx's temporary paths, each set under the prefix (main_conf) and created (Nginx.write_config).
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_binary() -> str | None:
    """The nginx executable (Debian's package puts it in /usr/sbin, often not on PATH)."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


def render_site(site: str, *, listen: int, upstreams: list[int], static_root: Path) -> str:
    """The site with its ``# cluster:`` lines pointed at this machine's ports and paths.

    Raises ValueError when the site no longer has the expected marked lines, rather than
    running something other than what deploy/ holds.
    """
    out: list[str] = []
    ups = iter(upstreams)
    seen = {"listen": 0, "upstream": 0, "static": 0}
    for line in site.splitlines():
        mark = re.search(r"#\s*cluster:\s*(\w+)", line)
        if mark:
            kind = mark.group(1)
            if kind not in seen:
                raise ValueError(f"unknown cluster mark {kind!r} in {SITE.name}")
            seen[kind] += 1
            indent = line[: len(line) - len(line.lstrip())]
            if kind == "listen":
                line = f"{indent}listen 127.0.0.1:{listen};"
            elif kind == "upstream":
                port = next(ups, None)
                if port is None:
                    continue  # fewer daphne processes than the site lists
                rest = re.sub(r"^\s*server\s+\S+", "", line.split("#")[0]).strip()
                line = f"{indent}server 127.0.0.1:{port} {rest}".rstrip()
            else:
                line = f"{indent}alias {static_root}/;"
        out.append(line)
    if seen["listen"] != 1 or seen["static"] != 1 or seen["upstream"] < 1:
        raise ValueError(f"{SITE.name} must mark one listen, one static and the upstream lines: {seen}")
    extra = list(ups)
    if extra:
        raise ValueError(f"{SITE.name} lists {seen['upstream']} upstream servers, {len(extra)} more asked")
    return "\n".join(out) + "\n"


def main_conf(prefix: Path, site_path: Path) -> str:
    """A whole nginx.conf around the site: everything nginx writes stays under ``prefix``."""
    user = ""
    if os.geteuid() == 0:
        # As root nginx would run its workers as "nobody", who cannot read a private temp
        # directory; as another user the directive is ignored (with a warning), so omit it.
        user = "user root;\n"
    temp = "\n".join(f"    {name}_temp_path {prefix / 'temp' / name};" for name in TEMP_PATHS)
    mime = f"    include {MIME_TYPES};\n" if MIME_TYPES.exists() else ""
    return (
        f"{user}worker_processes 1;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        f"{mime}"
        "    default_type application/octet-stream;\n"
        # Which daphne answered: the operator's (and the tests') view of stickiness.
        "    log_format upstream '$remote_addr [$time_local] \"$request\" $status '\n"
        "                        'upstream=$upstream_addr rt=$request_time';\n"
        f"    access_log {prefix / 'access.log'} upstream;\n"
        f"{temp}\n"
        f"    include {site_path};\n"
        "}\n"
    )


@dataclass
class Nginx:
    """One nginx process in front of ``upstreams`` (ports on 127.0.0.1)."""

    port: int
    upstreams: list[int]
    static_root: Path
    prefix: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mb-nginx-")))
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.prefix / "access.log"

    def write_config(self) -> Path:
        for name in TEMP_PATHS:
            (self.prefix / "temp" / name).mkdir(parents=True, exist_ok=True)
        site = self.prefix / "medical-booking.conf"
        site.write_text(render_site(SITE.read_text(), listen=self.port, upstreams=self.upstreams,
                                    static_root=self.static_root))
        conf = self.prefix / "nginx.conf"
        conf.write_text(main_conf(self.prefix, site))
        return conf

    def start(self) -> Nginx:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install -y nginx)")
        conf = self.write_config()
        check = subprocess.run([binary, "-t", "-p", str(self.prefix), "-c", str(conf)],
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
        self.proc = subprocess.Popen(
            [binary, "-p", str(self.prefix), "-c", str(conf), "-g", "daemon off;"],
            stdout=(self.prefix / "stdout.log").open("ab"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log()}")
            try:
                urllib.request.urlopen(self.url + "/api/schema/", timeout=2).read()
                return self
            except urllib.error.HTTPError:
                return self  # nginx answers (an upstream may still be starting)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise RuntimeError(f"nginx did not start: {self.error_log()}")

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def upstreams_seen(self, path_prefix: str = "/socket.io/") -> list[str]:
        """The upstream addresses that answered requests under ``path_prefix``, in order."""
        if not self.access_log.exists():
            return []
        out = []
        for line in self.access_log.read_text(errors="replace").splitlines():
            m = re.search(r'"\w+ (\S+) [^"]*" \d+ upstream=(\S+)', line)
            if m and m.group(1).startswith(path_prefix):
                out.append(m.group(2))
        return out

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finishes what it serves
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _daphne(port: int, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "--proxy-headers",
         "medical_booking.asgi:application"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer:\n{log.read_text(errors='replace')[-3000:]}")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    """``make cluster``: migrate, collect statics, start two daphne and nginx, wait."""
    missing = [name for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY") if not os.environ.get(name)]
    if missing:
        print(f"make cluster needs {', '.join(missing)} (PostgreSQL, Redis, a secret key)", file=sys.stderr)
        return 2
    from devtools.net import free_port

    port = int(os.environ.get("PORT", "8080"))
    ports = [free_port(), free_port()]
    work = Path(tempfile.mkdtemp(prefix="mb-cluster-"))
    static_root = work / "staticfiles"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "medical_booking.settings", "STATIC_ROOT": str(static_root),
           "PYTHONUNBUFFERED": "1"}
    origins = [o for o in env.get("CORS_ALLOWED_ORIGINS", "").split(",") if o]
    env["CORS_ALLOWED_ORIGINS"] = ",".join(dict.fromkeys(
        origins + [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]))
    # SIGTERM (systemd, `timeout`, a CI runner) stops everything like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "seed_demo"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    procs: list[subprocess.Popen] = []
    nginx = Nginx(port=port, upstreams=ports, static_root=static_root)
    try:
        for i, p in enumerate(ports):
            log = work / f"daphne-{i}.log"
            procs.append(_daphne(p, env, log))
        for p, proc, i in zip(ports, procs, range(len(ports)), strict=True):
            _wait_http(f"http://127.0.0.1:{p}/api/schema/", proc, work / f"daphne-{i}.log")
        nginx.start()
        print(f"\n  nginx        {nginx.url}/   (Socket.IO {nginx.url}/socket.io/)")
        for i, p in enumerate(ports):
            print(f"  daphne {i}     http://127.0.0.1:{p}  log {work / f'daphne-{i}.log'}")
        print(f"  nginx logs   {nginx.prefix}   (access.log names the upstream of each request)")
        print("  Logins (password demo1234): admin@demo.fr, secretariat@demo.fr, dr.martin@demo.fr, alice@demo.fr")
        print("  The scheduler (reminders, outbox, slot generation) runs inside each daphne.")
        print("  Ctrl-C stops everything.\n", flush=True)
        while all(proc.poll() is None for proc in procs) and nginx.proc.poll() is None:
            time.sleep(0.5)
        print("a process exited: stopping the cluster", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        nginx.stop()
        shutil.rmtree(nginx.prefix, ignore_errors=True)
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
