/** Pulumi's entry point (package.json "main" → dist/infra/index.js). */
import { deployStack } from './program';

const { chat, images } = deployStack();

export const url = chat.url;
export const serviceAccount = chat.serviceAccount.email;
/** The images this stack runs, by the digests this `pulumi up` pushed. */
export const appImage = images.refs.app;
export const gateImage = images.refs.gate;
