/** Pulumi's entry point (package.json "main" → dist/infra/index.js). */
import { deployStack } from './program';

const chat = deployStack();

export const url = chat.url;
export const serviceAccount = chat.serviceAccount.email;
