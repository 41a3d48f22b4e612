/** The stack: the images built from this checkout, and one gated chat service running them. */
import { SERVICE_NAME } from '../common/cloud-run-service';
import { loadAlertRules } from './alert-rules';
import { loadStackConfig } from './config';
import { GatedService } from './gated-service';
import { Images } from './images';

export function deployStack(): { chat: GatedService; images: Images } {
  const config = loadStackConfig();
  // Every resource says which stack owns it.
  const labels = { ...config.labels, environment: config.stack };
  const images = new Images(`${SERVICE_NAME}-images`, { project: config.project, region: config.region, stack: config.stack, labels });
  const chat = new GatedService(SERVICE_NAME, {
    ...config,
    appImage: images.refs.app,
    gateImage: images.refs.gate,
    environment: config.stack,
    // Read when the program runs, so a new rule is a new policy with no second copy.
    alertRules: loadAlertRules(),
    labels,
  });
  return { chat, images };
}
