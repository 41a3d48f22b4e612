"""A FastAPI backend whose startup has named phases, the kind the incidents describe: it listens at
once, then connects to its dependencies and loads its model in the background, publishing each
phase on the phase endpoint for the startup gate. Run it with one process per container:

    python3 -m uvicorn app:app --host 0.0.0.0 --port 8080 --log-config log-config.json

Rehearsal knobs: EXAMPLE_PHASE_DELAY_MS (every phase takes this long), EXAMPLE_FAIL_PHASE (the
phase that fails on purpose). STARTUP_HOLD_MS: how long GET /startup holds a probe (infra sets it
just under the probe's timeout).
"""
import asyncio
import logging
import os

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from startup_phases import StartupPhases

PHASES = ("config", "database", "model", "finalize")
REQUIRED = ("database", "model")

phases = StartupPhases(required=REQUIRED)
app = FastAPI()
state = {}
log = logging.getLogger("app")


async def start():
    delay = int(os.environ.get("EXAMPLE_PHASE_DELAY_MS", "0")) / 1000
    fail = os.environ.get("EXAMPLE_FAIL_PHASE")
    try:
        for name in PHASES:
            async with phases.phase(name):
                await asyncio.sleep(delay)
                if name == fail:
                    raise RuntimeError(f"{name} failed on purpose (EXAMPLE_FAIL_PHASE)")
                if name in REQUIRED:
                    state[name] = f"{name} ready"
                    phases.component(name, True)
        phases.ready()
        log.info("ready", extra={"fields": {"completedPhases": phases.body["completedPhases"]}})
    except RuntimeError as error:
        # Published as state "failed" too: the gate reports it and ends the revision.
        log.error(f"startup failed in phase {phases.body['error']['phase']}: {error}")


@app.on_event("startup")
async def on_startup():
    await phases.serve()  # before the slow work, so the gate sees "starting", not refused connections
    app.state.startup = asyncio.create_task(start())


@app.on_event("shutdown")
async def on_shutdown():
    phases.stopping()
    await phases.close()


@app.get("/startup")
async def startup_probe():
    status, body = await phases.startup_answer(int(os.environ.get("STARTUP_HOLD_MS", "975")))
    return JSONResponse(body, status_code=status)


@app.get("/healthz")
async def healthz():
    failed = phases.body["state"] == "failed"
    return JSONResponse({"ok": not failed}, status_code=503 if failed else 200)


@app.get("/")
async def hello():
    if phases.body["state"] != "ready":
        return JSONResponse({"error": "starting"}, status_code=503, headers={"Retry-After": "1"})
    return {"message": "hello", "model": state["model"]}
