/** The stack: the images built from this checkout, and one gated chat service running them. */
import { CHAT_SERVICE_NAME } from '../common/cloud-run-service';
import { chatApp } from './chat-app';
import { loadStackConfig } from './config';
import { GatedService } from './gated-service';
import { Images } from './images';

export function deployStack(): { chat: GatedService; images: Images } {
  const config = loadStackConfig();
  // Every resource says which stack owns it.
  const labels = { ...config.labels, environment: config.stack };
  const images = new Images(`${CHAT_SERVICE_NAME}-images`, { project: config.project, region: config.region, stack: config.stack, labels });
  const chat = new GatedService(CHAT_SERVICE_NAME, {
    ...config,
    app: chatApp(config, config.stack, images.refs.app),
    gateImage: images.refs.gate,
    vpc: { network: config.network, subnetwork: config.subnetwork },
    environment: config.stack,
    labels,
  });
  return { chat, images };
}
