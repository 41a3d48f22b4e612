/**
 * The app and gate images, built from the checkout `pulumi up` runs in with Docker Buildx
 * (@pulumi/docker-build) and pushed to an Artifact Registry repository the stack owns. The service
 * runs them by the pushed digest, so one `pulumi up` ships code and infrastructure together, and
 * an image changes in a preview only when its build context changed.
 */
import * as dockerbuild from '@pulumi/docker-build';
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { PLATFORM } from './image-platform';

export const IMAGES_COMPONENT_TYPE = 'cloud-run-startup-gate:index:Images';

/** The repository id, in the stack's project and region. */
export const IMAGE_REPOSITORY = 'chat';
/**
 * The build context: the project folder, which is where the language host runs the program. Both
 * Dockerfiles build from the repository root, and .dockerignore keeps the context to what they COPY.
 */
export const BUILD_CONTEXT = '.';
/** Each image and its Dockerfile. */
export const DOCKERFILES = { app: 'app/Dockerfile', gate: 'sidecar/Dockerfile' } as const;
export type ImageName = keyof typeof DOCKERFILES;

/** Artifact Registry takes an OAuth access token as the password of this fixed user. */
const TOKEN_USER = 'oauth2accesstoken';

export interface ImagesArgs {
  project: string;
  region: string;
  /** Tags each pushed image with the stack's name: the image this stack last deployed. */
  stack: string;
  labels: Record<string, string>;
}

export class Images extends pulumi.ComponentResource {
  public readonly repository: gcp.artifactregistry.Repository;
  /** Each image as `REGISTRY/REPOSITORY/NAME@sha256:DIGEST`, the digest the build pushed. */
  public readonly refs: Record<ImageName, pulumi.Output<string>>;

  constructor(name: string, args: ImagesArgs, opts?: pulumi.ComponentResourceOptions) {
    super(IMAGES_COMPONENT_TYPE, name, {}, opts);
    const parent = { parent: this };
    const { project, region } = args;

    // In the service's project, so Cloud Run's service agent pulls from it without another grant.
    this.repository = new gcp.artifactregistry.Repository(name, {
      project,
      location: region,
      repositoryId: IMAGE_REPOSITORY,
      format: 'DOCKER',
      description: 'Images of the chat service, built and pushed by pulumi up',
      labels: args.labels,
    }, parent);

    // The deploying identity's own token, held in memory by the provider for the push only.
    const token = gcp.organizations.getClientConfigOutput(parent).accessToken;
    const registry = { address: `${region}-docker.pkg.dev`, username: TOKEN_USER, password: pulumi.secret(token) };

    const build = (image: ImageName) => {
      const built = new dockerbuild.Image(`${name}-${image}`, {
        context: { location: BUILD_CONTEXT },
        dockerfile: { location: DOCKERFILES[image] },
        platforms: [PLATFORM],
        push: true,
        // Previews stay read-only (the preview identity cannot push); `npm test` checks the contexts.
        buildOnPreview: false,
        tags: [pulumi.interpolate`${this.repository.registryUri}/${image}:${args.stack}`],
        registries: [registry],
      }, parent);
      return pulumi.interpolate`${this.repository.registryUri}/${image}@${built.digest}`;
    };
    this.refs = { app: build('app'), gate: build('gate') };
    this.registerOutputs({ app: this.refs.app, gate: this.refs.gate });
  }
}
