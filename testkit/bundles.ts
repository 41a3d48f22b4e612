/** The esbuild bundles the images run (`npm run bundle`), as the process-level tests start them. */
import { existsSync } from 'node:fs';
import { BUNDLES } from '../common/paths';

/** The environment both Dockerfiles set (`ENV NODE_ENV=production`). */
export const IMAGE_ENV = { NODE_ENV: 'production' } as const;

/** The path of a deployable's bundle; throws one line naming the fix when it has not been built. */
export function bundlePath(name: keyof typeof BUNDLES): string {
  const file = BUNDLES[name];
  if (!existsSync(file)) throw new Error(`${file} is missing: run npm run bundle`);
  return file;
}
