/** The stack: one gated chat service configured from the stack's config. */
import { loadAlertRules } from './alert-rules';
import { loadStackConfig, type StackConfig } from './config';
import { GatedService } from './gated-service';

/** The Cloud Run service name. */
export const SERVICE_NAME = 'chat';

export function deployStack(): { chat: GatedService; config: StackConfig } {
  const config = loadStackConfig();
  const chat = new GatedService(SERVICE_NAME, {
    ...config,
    environment: config.stack,
    // Read when the program runs, so a new rule is a new policy with no second copy.
    alertRules: loadAlertRules(),
    // Every resource says which stack owns it.
    labels: { ...config.labels, environment: config.stack },
  });
  return { chat, config };
}
