/**
 * The gate process: read the configuration, listen on 0.0.0.0 (Cloud Run probes the container's
 * address, not loopback), then check the target until SIGTERM or until the app reports `failed`.
 */
import Registry from 'prom-client/lib/registry';
import { exitOnConfigError, redactUrl } from '../../common/env';
import { createLogger } from '../../common/log';
import { realCheckDeps, runCheckLoop } from './checker';
import { readGateConfig } from './config';
import { Gate } from './gate';
import { GateMetrics } from './metrics';
import { createGateServer } from './server';

/** Cloud Run allows about 10 s after SIGTERM; the gate holds no work, so it leaves well within 1 s. */
const SHUTDOWN_DEADLINE_MS = 800;

function main(): void {
  const config = exitOnConfigError('gate', () => readGateConfig(process.env));
  const log = createLogger('gate', config.logLevel);
  const registry = new Registry();
  const metrics = new GateMetrics(registry, config.require, Date.now() / 1000);
  metrics.setBudget(config.startupBudgetSeconds);
  const checking = new AbortController();

  const gate = new Gate({
    required: config.require,
    timings: config,
    log,
    metrics,
    now: realCheckDeps.now,
    // Cloud Run fails a revision at once when a container exits during startup, but only after the
    // whole startup window when a probe keeps failing: exit, after a short linger so /startup and
    // /metrics can still be read. The error line logged just before is the last line printed.
    onAppFailed: () => {
      checking.abort();
      setTimeout(() => process.exit(1), config.failedLingerMs);
    },
  });
  const server = createGateServer(gate, registry, { startupHoldMs: config.startupHoldMs, metrics, now: realCheckDeps.now });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, probesHeld: gate.holds.count }, 'shutting down');
    // Held startup probes get their 503 (with connection: close) as this wakes them; idle
    // keep-alive connections close now, and the deadline covers a client that lingers.
    gate.beginShutdown();
    checking.abort();
    setTimeout(() => process.exit(0), SHUTDOWN_DEADLINE_MS).unref();
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  server.once('error', (error) => {
    log.fatal({ err: error }, `cannot listen on port ${config.port}: ${error.message}`);
    process.exit(1);
  });
  server.listen(config.port, '0.0.0.0', () => {
    log.info({ port: config.port, target: redactUrl(config.targetUrl), require: config.require }, 'listening');
    runCheckLoop(config.targetUrl, config, realCheckDeps, { onCheck: (o, ms) => gate.recordCheck(o, ms), onLongPoll: (h) => gate.recordLongPoll(h) }, checking.signal).catch(
      (error: unknown) => gate.loopFailed(error),
    );
  });
}

main();
