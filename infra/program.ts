/** The stack: one gated chat service configured from the stack's config. */
import { loadStackConfig } from './config';
import { GatedService } from './gated-service';

/** The Cloud Run service name. */
export const SERVICE_NAME = 'chat';

export function deployStack(): GatedService {
  const config = loadStackConfig();
  return new GatedService(SERVICE_NAME, {
    ...config,
    environment: config.stack,
    // Every resource says which stack owns it.
    labels: { ...config.labels, environment: config.stack },
  });
}
