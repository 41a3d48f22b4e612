/**
 * The app process: phase endpoint on loopback and the public listener first, then the seven
 * startup phases, then chat. A failed startup keeps both listeners up so the failure is visible.
 */
import type { Server } from 'node:http';
import { setImmediate } from 'node:timers/promises';
import { phaseCompleteLog } from '../../common/app-log';
import { exitOnConfigError } from '../../common/env';
import { createLogger } from '../../common/log';
import { ChatService, chatOptions } from './chat/chat-service';
import { ClientFaultLog } from './chat/client-faults';
import { COMPONENT_NAMES, type Components } from './startup/components';
import { readServerConfig } from './config';
import Registry from 'prom-client/lib/registry';
import { DependencyHealth } from './dependencies/dependency-health';
import { registerDependencyMetrics } from './dependencies/dependency-metrics';
import { runStartup, StartupError } from './startup/orchestrator';
import { createPhaseServer } from './startup/phase-server';
import { PhaseState } from './startup/phase-state';
import { createPublicServer, publicServerOptions } from './chat/public-server';
import { createStartupPlan } from './startup/startup-plan';

/** Time allowed for close handshakes after the drain, inside Cloud Run's ~10 s SIGTERM grace. */
const CLOSE_WAIT_MS = 500;
/** Time allowed for closing the database pool and the Redis connections, after the handshakes. */
const DEPENDENCY_CLOSE_MS = 1000;

async function main(): Promise<void> {
  const config = exitOnConfigError('app', () => readServerConfig(process.env));
  const log = createLogger('app', config.logLevel);
  const startedAt = performance.now();
  const state = new PhaseState(COMPONENT_NAMES);
  const health = new DependencyHealth(log.child({ module: 'dependencies' }));
  const metrics = new Registry();
  registerDependencyMetrics(metrics, health);
  const phaseServer = createPhaseServer(state, metrics);
  const faults = new ClientFaultLog(log.child({ module: 'client-faults' }));
  const publicServer = createPublicServer(state, { ...publicServerOptions(config, log, faults), health });

  const startup = new AbortController();
  let components: Components | undefined;
  let chat: ChatService | undefined;
  let stopping = false;

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, inFlight: components?.executionTracker.inFlight ?? 0 }, 'shutting down');
    state.markStopping();
    startup.abort();
    // Held startup probes and long-polls answer on that change: let the answers out before connections close.
    await setImmediate();
    const result = chat ? await chat.stop(config.shutdownDeadlineMs, CLOSE_WAIT_MS) : { drained: true, closed: 0 };
    for (const server of [publicServer.server, phaseServer]) {
      server.close();
      server.closeAllConnections();
    }
    // After the drain, so runs in flight could still store their replies; capped, so an unreachable
    // database cannot hold the process past Cloud Run's grace period.
    await Promise.race([
      Promise.allSettled([components?.sessionFactory.close(), components?.cacheClient.close()]),
      new Promise((resolve) => setTimeout(resolve, DEPENDENCY_CLOSE_MS).unref()),
    ]);
    log.info({ ...result }, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    await listen(phaseServer, config.phasePort, config.phaseHost);
    await listen(publicServer.server, config.port, '0.0.0.0');
  } catch (error) {
    log.fatal({ err: error }, `cannot listen: ${(error as Error).message}`);
    process.exit(1);
  }
  log.info({ port: config.port, phaseEndpoint: `${config.phaseHost}:${config.phasePort}`, environment: config.environment }, 'listening');

  try {
    components = await runStartup(createStartupPlan({ env: process.env, config, log, signal: startup.signal, health }), {
      state,
      phaseDelayMs: config.phaseDelayMs,
      failPhase: config.failPhase,
      signal: startup.signal,
      onPhaseStart: (phase) => {
        if (phase !== config.crashPhase) return;
        log.fatal({ phase }, `rehearsed crash in phase ${phase} (APP_CRASH_PHASE=${phase})`);
        process.exit(1);
      },
      onPhaseComplete: (phase, durationMs) => {
        const { fields, message } = phaseCompleteLog(phase, durationMs);
        log.info(fields, message);
      },
      serve: (built) => {
        // Not `component`: the root logger binds that key, and pino would write it twice.
        chat = new ChatService(chatOptions(config, built, log.child({ module: 'chat' }), faults));
        publicServer.enableChat(chat);
      },
    });
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    if (!stopping) log.error({ phase: error.phase, step: error.step }, `startup failed in phase ${error.phase}: ${error.message}`);
    return;
  }
  if (stopping) return;
  log.info({ startupMs: Math.round(performance.now() - startedAt), sinceExecMs: Math.round(process.uptime() * 1000), durationsMs: state.snapshot().phaseDurationsMs }, 'ready');
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

void main();
