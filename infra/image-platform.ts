/**
 * The platform the images are built for, apart from images.ts so the policy pack can check it
 * without loading @pulumi/docker-build and @pulumi/gcp.
 */

/** Cloud Run runs x86-64 Linux images only. */
export const PLATFORM = 'linux/amd64';
