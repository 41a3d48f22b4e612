/**
 * Pulumi's entry point for the Python example (package.json "main" → the compiled
 * dist/examples/python-fastapi/deploy/index.js): the FastAPI app of examples/python-fastapi as the
 * ingress container of a GatedService, with the gate and the collector beside it. Everything the
 * component needs to know about the app is the GatedApp below; nothing of the chat app is here.
 * The app serves no Prometheus metrics and has no alerting rules of its own, so it leaves
 * `metricsEndpoints` and `alertRulesDirs` out: it gets the gate's alerts and the gate is scraped.
 */
import * as pulumi from '@pulumi/pulumi';
import { DEFAULT_GATE_TARGET_URL } from '../../../common/revision';
import { GatedService } from '../../../infra/gated-service';
import { APP_CPU_OF_ONE_VCPU, type GatedApp } from '../../../infra/revision-template';

/** The Cloud Run service name (the chat app's policies apply to `chat` only, not to this one). */
const SERVICE_NAME = 'python-fastapi';
/** Where uvicorn listens in the container; Cloud Run sets PORT to the same. */
const PORT = 8080;

/** The example as the component takes it: app.py's phases, its held /startup and /healthz. */
function pythonApp(image: pulumi.Input<string>): GatedApp {
  return {
    image,
    port: PORT,
    // One process per container: startup_phases.py refuses a second worker.
    command: ['python3', '-m', 'uvicorn'],
    args: ['app:app', '--host', '0.0.0.0', '--port', String(PORT), '--log-config', 'log-config.json'],
    // Log lines reach Cloud Logging as they are written.
    env: { PYTHONUNBUFFERED: '1' },
    secrets: {},
    cpu: APP_CPU_OF_ONE_VCPU,
    memory: '512Mi',
    livenessPath: '/healthz',
    // app.py's GET /startup holds each probe attempt this long (contract 2's ingress side).
    startupHoldEnv: 'STARTUP_HOLD_MS',
    // startup_phases.py serves contract 1 on 127.0.0.1:8081 by default (PHASE_HOST, PHASE_PORT).
    phaseUrl: DEFAULT_GATE_TARGET_URL,
    // app.py's REQUIRED: the gate opens only once both exist.
    requiredComponents: ['database', 'model'],
  };
}

const config = new pulumi.Config();
const gcpConfig = new pulumi.Config('gcp');
const stack = pulumi.getStack();
const labels = { ...config.requireObject<Record<string, string>>('labels'), environment: stack };

const service = new GatedService(SERVICE_NAME, {
  project: gcpConfig.require('project'),
  region: gcpConfig.require('region'),
  environment: stack,
  app: pythonApp(config.require('appImage')),
  gateImage: config.require('gateImage'),
  collectorImage: config.require('collectorImage'),
  startupBudgetSeconds: config.requireNumber('startupBudgetSeconds'),
  gateReadinessProbe: false,
  minInstances: 0,
  maxInstances: config.requireNumber('maxInstances'),
  concurrency: 80,
  publicAccess: false,
  deletionProtection: false,
  notificationChannels: [],
  labels,
});

export const url = service.url;
