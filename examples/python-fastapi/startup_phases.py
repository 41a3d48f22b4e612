"""Contract 1 (the phase endpoint) and the ingress side of contract 2 (a held startup probe) for any
ASGI backend, with the standard library only. Copy this file into your project.

    phases = StartupPhases(required=["db", "model"])
    await phases.serve()                      # GET /phase on 127.0.0.1:8081, before the slow work
    async with phases.phase("database"):      # a failure here publishes state "failed" and re-raises
        db = await connect()
        phases.component("db", True)
    phases.ready()

    # The ingress container's startup probe (contract 2): held until ready, then 200.
    status, body = await phases.startup_answer(hold_ms=975)

One process per container: the phase port binds once, so a second worker in the same container
fails to start with a message saying so, instead of serving traffic the gate never checked.
"""
import asyncio
import contextlib
import datetime
import json
import os
import urllib.parse

CONTRACT_VERSION = 1
MAX_LONG_POLL_MS = 30_000
FINAL_STATES = ("ready", "failed", "stopping")


def _now():
    # Contract 1 wants RFC 3339 with a UTC offset; a naive isoformat() has none.
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class OneProcessPerContainer(RuntimeError):
    """The phase port is taken: another process in this container already serves it."""


class StartupPhases:
    def __init__(self, required, host=None, port=None):
        self.required = list(required)
        self.host = host or os.environ.get("PHASE_HOST", "127.0.0.1")
        self.port = int(port or os.environ.get("PHASE_PORT", "8081"))
        self._body = {
            "contract": CONTRACT_VERSION,
            "state": "starting",
            "phase": "init",
            "completedPhases": [],
            "components": {name: False for name in self.required},
            "error": None,
            "seq": 1,
            "startedAt": _now(),
            "updatedAt": _now(),
        }
        self._changed = asyncio.Condition()
        self._server = None

    # -- publishing ---------------------------------------------------------------------------

    def _publish(self, **fields):
        if self._body["state"] == "stopping" and "error" not in fields:
            return  # stopping is final: progress after it is not published
        self._body.update(fields)
        self._body["seq"] += 1
        self._body["updatedAt"] = _now()
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self):
        async with self._changed:
            self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def phase(self, name):
        self._publish(phase=name)
        try:
            yield
        except BaseException as error:
            self._publish(state="failed" if self._body["state"] == "starting" else self._body["state"],
                          error={"phase": name, "message": str(error) or type(error).__name__})
            raise
        self._publish(completedPhases=[*self._body["completedPhases"], name])

    def component(self, name, built):
        self._publish(components={**self._body["components"], name: bool(built)})

    def ready(self):
        missing = [name for name in self.required if not self._body["components"].get(name)]
        if missing:
            raise RuntimeError(f"ready with required components missing: {', '.join(missing)}")
        self._publish(state="ready")

    def stopping(self):
        self._publish(state="stopping")

    @property
    def body(self):
        return dict(self._body)

    # -- contract 1: GET /phase on a loopback listener ----------------------------------------

    async def serve(self):
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as error:
            raise OneProcessPerContainer(
                f"phase endpoint {self.host}:{self.port} is already bound ({error.strerror}): run one "
                "server process per container (uvicorn without --workers, not gunicorn -w N), so the "
                "gate checks the process that serves traffic") from error

    async def close(self):
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for_change(self, after_seq, wait_ms):
        await self.wait_until(lambda: self._body["seq"] > after_seq, wait_ms)
        return self.body

    async def _handle(self, reader, writer):
        try:
            request_line = (await asyncio.wait_for(reader.readline(), 5)).decode("latin-1").split()
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            method, target = (request_line + ["", ""])[:2]
            url = urllib.parse.urlsplit(target)
            if method != "GET" or url.path != "/phase":
                return self._write(writer, 404, {"error": "not_found"})
            query = urllib.parse.parse_qs(url.query)
            after_seq, wait_ms = _int(query, "afterSeq"), _int(query, "waitMs")
            body = self.body
            if after_seq is not None and wait_ms is not None:
                body = await self.wait_for_change(after_seq, min(wait_ms, MAX_LONG_POLL_MS))
            self._write(writer, 200 if body["state"] == "ready" else 503, body)
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()

    @staticmethod
    def _write(writer, status, body):
        payload = json.dumps(body).encode()
        reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload)

    # -- contract 2, ingress side: the app's own startup probe --------------------------------

    def _decision(self):
        body = self._body
        missing = [name for name in self.required if not body["components"].get(name)]
        if body["state"] == "ready" and not missing:
            return 200, {"state": "open"}, True
        reason = body["state"] if body["state"] != "ready" else "missing_components"
        closed = {"state": body["state"], "phase": body["phase"], "reason": reason,
                  "missing": missing, "error": body["error"]}
        return 503, closed, body["state"] in FINAL_STATES

    async def startup_answer(self, hold_ms):
        """Held while starting: answers 200 the moment the backend is ready, 503 at once when it
        failed or is stopping, and 503 after hold_ms (set it just under the probe's timeout)."""
        status, body, final = self._decision()
        if final or hold_ms <= 0:
            return status, body
        await self.wait_until(lambda: self._decision()[2], hold_ms)
        status, body, _ = self._decision()
        return status, body

    async def wait_until(self, predicate, wait_ms):
        async with self._changed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(predicate), wait_ms / 1000)


def _int(query, name):
    values = query.get(name)
    if not values or not values[0].isdigit():
        return None
    return int(values[0])
