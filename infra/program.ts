/** The stack: one gated chat service configured from the stack's config. */
import { loadStackConfig, type StackConfig } from './config';
import { GatedService } from './gated-service';

/** The Cloud Run service name. */
export const SERVICE_NAME = 'chat';

export function deployStack(): { chat: GatedService; config: StackConfig } {
  const config = loadStackConfig();
  const chat = new GatedService(SERVICE_NAME, {
    ...config,
    environment: config.stack,
    // Every resource says which stack owns it.
    labels: { ...config.labels, environment: config.stack },
  });
  return { chat, config };
}
