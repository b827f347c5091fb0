"""Running the services: `serve` runs one service in this process; `up` supervises all three.

Design: `up` runs each service as its own child process (`frontdoor serve NAME`), not three servers on
one event loop. A crash, a blocking call or a `kill -9` in one service leaves the others serving (the
reliability drills kill the reporting service mid catch-up), each SQLite file has one writer process,
and it is the same shape as the containers in docker-compose.yml. The parent binds every listening
socket itself before anything starts, so a taken port is reported by name before any migration or
process runs, and it hands each socket to its child (the port stays reserved across a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import StatementError

from frontdoor.registry import SERVICES, shared_database
from shared.app import READY_TIMEOUT_SECONDS
from shared.auth import Role, mint_token, minting_refused, service_token_provider
from shared.policy import describe_differences, policy_differences
from shared.settings import ServiceSettings, SettingsError

Migrate = Callable[[list[str]], Coroutine[Any, Any, None]]

# How long a signalled service may take to finish in-flight requests and its consumers' batch in hand.
GRACEFUL_SECONDS = 30
STARTUP_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 30.0
DEV_TOKEN_HOURS = 8
# Staff roles get a team claim so team-scoped work lists have something to scope to.
DEV_TEAM = "FD-DEV"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def say(message: str) -> None:
    print(message, flush=True)


def warn(message: str) -> None:
    print(f"frontdoor: {message}", file=sys.stderr, flush=True)


# -- addresses ------------------------------------------------------------------------------------
def reachable_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host` (wildcards mean loopback)."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)


def base_url(host: str, port: int) -> str:
    reach = reachable_host(host)
    return f"http://[{reach}]:{port}" if ":" in reach else f"http://{reach}:{port}"


def bind_listener(host: str, port: int) -> socket.socket:
    """Bind and listen now (as uvicorn would), so a taken port fails here with EADDRINUSE."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        # Like uvicorn: allows a restart while old connections sit in TIME_WAIT, never a second listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def port_problem(name: str, host: str, port: int, exc: OSError, option: str | None = None) -> str:
    """`option`: the command's own port option (`serve` has --port; `up`, --<service>-port)."""
    reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
    return (
        f"cannot start {name}: port {port} on {host} {reason}. Stop whatever holds it or choose "
        f"another port ({option or f'--{name}-port'} or {env_prefix(name)}PORT)."
    )


def failure(exc: BaseException) -> str:
    """An error as an operator is shown it: its type and message, but of a database error only the
    driver's first line, since SQLAlchemy's text adds the statement and its parameters (in a data
    migration, a child's details)."""
    if isinstance(exc, StatementError):
        return f"{type(exc).__name__}: {database_reason(exc)}"
    return f"{type(exc).__name__}: {exc}"


def database_reason(exc: StatementError) -> str:
    """The first line of what the database driver said, without the SQL."""
    return (str(exc.orig).strip() or type(exc.orig).__name__).splitlines()[0]


# -- settings -------------------------------------------------------------------------------------
def settings_problems(exc: ValidationError) -> str:
    """What is wrong with the settings, by field, without the values given: pydantic's own message
    repeats its input, which holds JWT_SECRET and any database password."""
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or 'settings'}: {e['msg']}"
        for e in exc.errors(include_url=False, include_input=False)
    )


def policy_disagreements(settings: dict[str, ServiceSettings]) -> list[str]:
    """Where services started together apply a policy differently (the comparison a consumer makes
    against its producer's `GET /policy` once running): one line per pair that disagrees."""
    lines = []
    for name, ours in settings.items():
        for feed, applied in ours.upstream_policies().items():
            producer = settings.get(feed)
            served = producer.policy() if producer is not None else None
            if served is not None and (differences := policy_differences(served, applied)):
                lines.append(
                    f"{name}'s settings disagree with those of {feed}, so its reports will not count as "
                    f"{feed} does: {describe_differences(differences, f'in {feed}', f'in {name}')}"
                )
    return lines


def settings_class(name: str) -> type[ServiceSettings]:
    cls: type[ServiceSettings] = importlib.import_module(f"{SERVICES[name].package}.settings").Settings
    return cls


def env_prefix(name: str) -> str:
    return str(settings_class(name).model_config.get("env_prefix", ""))


def upstream_env(addresses: dict[str, tuple[str, int]]) -> dict[str, str]:
    """Environment for the children: each service's host/port, and every consumer's upstream URL
    pointed at the port its upstream really runs on (e.g. SUPERVISION_REFERRALS_URL)."""
    env: dict[str, str] = {}
    for name, (host, port) in addresses.items():
        prefix = env_prefix(name)
        env[f"{prefix}HOST"] = host
        env[f"{prefix}PORT"] = str(port)
        fields = settings_class(name).model_fields
        for upstream, (up_host, up_port) in addresses.items():
            if f"{upstream}_url" in fields:
                env[f"{prefix}{upstream.upper()}_URL"] = base_url(up_host, up_port)
    return env


def dev_tokens(settings: ServiceSettings) -> dict[str, str] | None:
    """One development token per role, or None where tokens come from the identity provider
    (production, or a public-key JWT_ALGORITHM: see `minting_refused`)."""
    if minting_refused(settings) is not None:
        return None
    tokens: dict[str, str] = {}
    for role in Role:
        staff = role in (Role.practitioner, Role.manager, Role.analyst, Role.admin)
        tokens[role.value] = mint_token(
            settings,
            roles=[role.value],
            subject=f"dev-{role.value}",
            team=DEV_TEAM if staff else None,
            ttl_seconds=DEV_TOKEN_HOURS * 3600,
        )
    return tokens


# -- one service in this process ------------------------------------------------------------------
class _Server(uvicorn.Server):
    """uvicorn's graceful shutdown, but a signal ends the process with 0 instead of being re-raised."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)


async def _watch_parent(server: uvicorn.Server, parent: int) -> None:
    """A child of `up` shuts down gracefully if `up` itself dies (even by kill -9): no orphans."""
    while not server.should_exit:
        if os.getppid() != parent:
            server.should_exit = True
            return
        await asyncio.sleep(0.5)


def serve(
    name: str,
    *,
    host: str | None = None,
    port: int | None = None,
    fd: int | None = None,
    migrate: Migrate | None = None,
    watch_parent: bool = False,
) -> int:
    """Run one service (with its consumers) until SIGINT/SIGTERM; returns the exit code."""
    entry = SERVICES[name]
    try:
        base = entry.settings()
        overrides: dict[str, Any] = {"host": host or base.host, "port": port or base.port}
        settings = entry.settings(**overrides)
        if entry.consumes_feeds:
            service_token_provider(settings)  # before anything is bound or migrated
    except ValidationError as exc:
        warn(f"{name}: invalid settings: {settings_problems(exc)}")
        return 2
    except SettingsError as exc:
        warn(f"{name}: invalid settings: {exc}")
        return 2
    if fd is not None:
        sock = socket.socket(fileno=fd)
    else:
        try:
            sock = bind_listener(settings.host, settings.port)
        except OSError as exc:
            warn(port_problem(name, settings.host, settings.port, exc, option="--port"))
            return 1
        say(f"{name} on {base_url(settings.host, settings.port)} (docs /docs); Ctrl-C to stop")
    if migrate is not None:
        try:
            asyncio.run(migrate([name]))
        except Exception as exc:
            sock.close()
            warn(f"{name}: migrations failed: {failure(exc)}")
            return 1
    app = entry.main().create(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_config=None,  # the service's own JSON logging (configured by create_app) applies
        access_log=False,  # the observability middleware logs each request already
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    server = _Server(config)

    async def run() -> None:
        watcher = asyncio.create_task(_watch_parent(server, os.getppid())) if watch_parent else None
        try:
            await server.serve(sockets=[sock])
        finally:
            if watcher is not None:
                watcher.cancel()

    asyncio.run(run())
    return 0 if server.started else 3


# -- all of them, supervised ----------------------------------------------------------------------
@dataclass
class Child:
    name: str
    host: str
    port: int
    sock: socket.socket
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff: float = 0.5
    restart_at: float | None = None
    done: bool = False  # stopped on purpose (exit 0): not restarted

    @property
    def url(self) -> str:
        return base_url(self.host, self.port)

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "frontdoor",
            "serve",
            self.name,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--fd",
            str(self.sock.fileno()),
            "--no-migrate",
            "--watch-parent",
        ]


@dataclass
class Supervisor:
    children: list[Child]
    env: dict[str, str]
    restart: bool = True
    signals: int = 0
    log: Callable[[str], None] = field(default=warn)

    def spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(
            child.command(),
            env=self.env,
            stdin=subprocess.DEVNULL,
            pass_fds=(child.sock.fileno(),),
        )
        child.started_at = time.monotonic()
        child.restart_at = None

    def on_signal(self, signum: int, _frame: Any) -> None:
        self.signals += 1

    def running(self) -> list[Child]:
        return [c for c in self.children if c.proc is not None and c.proc.poll() is None]

    def wait_live(self) -> str | None:
        """Wait until every child answers /health/live; the problem if one exits or it takes too long."""
        deadline = time.monotonic() + STARTUP_SECONDS
        pending = list(self.children)
        with httpx.Client(timeout=1.0) as client:
            while pending:
                if self.signals:
                    return "interrupted while starting"
                for child in list(pending):
                    assert child.proc is not None
                    code = child.proc.poll()
                    if code is not None:
                        return f"{child.name} exited with code {code} while starting"
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(f"{child.url}/health/live").status_code == 200:
                            pending.remove(child)
                if time.monotonic() > deadline:
                    names = ", ".join(c.name for c in pending)
                    return f"{names} did not answer /health/live within {STARTUP_SECONDS:.0f} s"
                if pending:
                    time.sleep(0.1)
        return None

    def not_ready(self) -> dict[str, str]:
        """Why each live child that is not ready is not (its /health/ready), by name. Live is not
        ready: a database never migrated (`up --no-migrate`) or unreachable fails every request."""
        reasons: dict[str, str] = {}
        # The service bounds its own probe of the database by READY_TIMEOUT_SECONDS.
        with httpx.Client(timeout=READY_TIMEOUT_SECONDS + 2) as client:
            for child in self.children:
                try:
                    response = client.get(f"{child.url}/health/ready")
                except httpx.HTTPError as exc:
                    reasons[child.name] = f"/health/ready did not answer ({type(exc).__name__})"
                    continue
                if (why := readiness_problem(response)) is not None:
                    reasons[child.name] = why
        return reasons

    def watch(self) -> int | None:
        """One supervision step while running: restart crashed children. Returns an exit code to stop."""
        now = time.monotonic()
        for child in self.children:
            if child.done:
                continue
            if child.proc is not None and (code := child.proc.poll()) is not None:
                child.proc = None
                if code == 0:
                    self.log(f"{child.name} stopped (exit 0)")
                    child.done = True
                    continue
                if not self.restart:
                    self.log(f"{child.name} exited unexpectedly (code {code}); stopping everything")
                    return 1
                if now - child.started_at > 2 * MAX_BACKOFF_SECONDS:
                    child.backoff = 0.5  # it had been healthy for a while: a fresh crash, not a loop
                child.restart_at = now + child.backoff
                self.log(f"{child.name} exited unexpectedly (code {code}); restart in {child.backoff:.1f} s")
                child.backoff = min(MAX_BACKOFF_SECONDS, child.backoff * 2)
            if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                self.spawn(child)
                assert child.proc is not None
                self.log(f"{child.name} restarted (pid {child.proc.pid})")
        if all(c.done for c in self.children):
            return 0
        return None

    def stop(self) -> int:
        """SIGTERM every child (graceful: in-flight requests and the batch in hand finish); a second
        Ctrl-C, or the grace period running out, kills what is left."""
        for child in self.running():
            assert child.proc is not None
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
        seen = self.signals
        # uvicorn's drain, then the lifespan's wait for consumers (15 s), then interpreter exit.
        deadline = time.monotonic() + GRACEFUL_SECONDS + 25
        forced = False
        while self.running():
            if self.signals > seen or time.monotonic() > deadline:
                forced = True
                for child in self.running():
                    assert child.proc is not None
                    self.log(f"{child.name} did not stop in time; killing it")
                    with contextlib.suppress(ProcessLookupError):
                        child.proc.kill()
                seen = self.signals
            time.sleep(0.05)
        codes = {c.name: c.proc.returncode for c in self.children if c.proc is not None}
        for child in self.children:
            child.sock.close()
        # -SIGTERM: it was still starting (no handler yet), so nothing was in flight to lose.
        bad = {n: code for n, code in codes.items() if code not in (0, -signal.SIGTERM)}
        if bad:
            self.log(f"stopped with errors: {bad}")
        return 1 if forced or bad else 0


def up(
    names: list[str],
    *,
    host: str | None,
    ports: dict[str, int | None],
    migrate: Migrate | None,
    restart: bool = True,
) -> int:
    """Migrate, start every named service with its consumers, print how to reach them, and wait."""
    settings: dict[str, ServiceSettings] = {}
    invalid = False
    for name in names:  # each service's problems, named by service (several share setting names)
        try:
            settings[name] = SERVICES[name].settings()
        except ValidationError as exc:
            warn(f"{name}: invalid settings: {settings_problems(exc)}")
            invalid = True
    if invalid:
        return 2
    if (problem := shared_database(settings)) is not None:
        warn(problem)
        return 2
    for name in names:
        if SERVICES[name].consumes_feeds:
            try:  # the child would refuse it only once started
                service_token_provider(settings[name])
            except SettingsError as exc:
                warn(f"{name}: invalid settings: {exc}")
                return 2
    for line in policy_disagreements(settings):
        warn(f"warning: {line}")  # not refused: the reporting service shows it too (/health/ready)
    addresses = plan(settings, host, ports)
    by_port: dict[int, str] = {}
    for name, (_, port) in addresses.items():
        if port in by_port:
            warn(f"{name} and {by_port[port]} are both set to port {port}; give each its own port")
            return 2
        by_port[port] = name

    # Reserve every port first: a taken one is reported before anything is migrated or started.
    children: list[Child] = []
    for name, (h, p) in addresses.items():
        try:
            children.append(Child(name, h, p, bind_listener(h, p)))
        except OSError as exc:
            for child in children:
                child.sock.close()
            warn(port_problem(name, h, p, exc))
            return 1

    if migrate is not None:
        try:
            asyncio.run(migrate(names))
        except (Exception, KeyboardInterrupt) as exc:
            for child in children:
                child.sock.close()
            if isinstance(exc, KeyboardInterrupt):
                return 130
            warn(f"migrations failed: {failure(exc)}")
            return 1

    env = {**os.environ, **upstream_env(addresses)}
    # The children run the same code as this process, wherever it was started from.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
    supervisor = Supervisor(children, env, restart=restart)
    previous = {sig: signal.signal(sig, supervisor.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in children:
            supervisor.spawn(child)
        problem = supervisor.wait_live()
        if problem is not None:
            interrupted = supervisor.signals > 0
            if not interrupted:
                warn(problem)
            code = supervisor.stop()
            return code if interrupted else 1
        _banner(children, settings, supervisor.not_ready())
        while not supervisor.signals:
            code_or_none = supervisor.watch()
            if code_or_none is not None:
                if code_or_none != 0:
                    supervisor.stop()
                return code_or_none
            time.sleep(0.1)
        say("frontdoor: stopping (finishing in-flight requests and consumer batches)")
        code = supervisor.stop()
        say("frontdoor: stopped" if code == 0 else f"frontdoor: stopped with exit code {code}")
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def readiness_problem(response: httpx.Response) -> str | None:
    """Why a service's /health/ready answer says it is not ready, or None when it is ready."""
    if response.status_code == 200:
        return None
    try:
        body = response.json()
        database, migrations = body["database"], body["migrations"]
        current, head = migrations["current"], migrations["head"]
    except (ValueError, TypeError, KeyError):
        return f"/health/ready answered {response.status_code}"
    if database != "ok":
        return f"its database is {database}"
    if current != head:
        at = f"at revision {current}" if current else "without a schema"
        return f"its database is {at}, not at {head}; run `frontdoor migrate`"
    return f"/health/ready answered {response.status_code}"


def plan(
    settings: dict[str, ServiceSettings], host: str | None, ports: dict[str, int | None]
) -> dict[str, tuple[str, int]]:
    """Where each service listens: the command-line option, else its settings (env, .env, default)."""
    return {name: (host or s.host, ports.get(name) or s.port) for name, s in settings.items()}


def _banner(
    children: list[Child], settings: dict[str, ServiceSettings], not_ready: dict[str, str] | None = None
) -> None:
    """`not_ready`: why each service that is live but not ready is not (`Supervisor.not_ready`)."""
    not_ready = not_ready or {}
    first = next(iter(settings.values()))
    if not_ready:
        names = ", ".join(not_ready)
        lines = [f"frontdoor is live ({first.environment.value}) but not ready: {names} (NOT READY below):"]
    else:
        lines = [f"frontdoor is up ({first.environment.value}):"]
    for child in children:
        pid = child.proc.pid if child.proc is not None else "-"
        line = f"  {child.name:<12} {child.url}   docs {child.url}/docs   pid {pid}"
        if child.name in not_ready:
            line += f"  NOT READY: {not_ready[child.name]}"
        lines.append(line)
    lines.append("Databases:")
    for name, s in settings.items():
        url = make_url(s.database_url).render_as_string(hide_password=True)
        lines.append(f"  {name:<12} {url}")
    tokens = dev_tokens(first)
    if tokens is None:
        lines.append(f"No development tokens: {minting_refused(first)}; use your identity provider.")
    else:
        lines.append(
            f"Development tokens (valid {DEV_TOKEN_HOURS} h; send as 'Authorization: Bearer <token>'):"
        )
        lines.extend(f"  {role:<12} {token}" for role, token in tokens.items())
    lines.append("Press Ctrl-C to stop.")
    say("\n".join(lines))
