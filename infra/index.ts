/** Pulumi's entry point (package.json "main" → dist/infra/index.js). */
import { deployStack } from './program';

const { chat, config } = deployStack();

export const url = chat.url;
export const serviceAccount = chat.serviceAccount.email;
/** The images this stack runs: the release workflow promotes staging's to production. */
export const appImage = config.appImage;
export const gateImage = config.gateImage;
