import type { Command } from '../command.js';

/**
 * One CLI command as the table knows it: its name and summary (what `slipway --help`
 * lists, and the second paragraph of the command's own --help) and how to load the rest.
 * The module behind `load` (options, run) and the library code it needs are imported only
 * when that command runs, so `slipway pull` never loads the build executor and `slipway
 * --help` loads no command at all. `name` repeats the command's own
 * (test/unit/cli-commands.test.ts checks).
 */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

/** Every CLI command, in the order --help lists them. Add one line per command (dynamic import only). */
export const COMMANDS: readonly CommandEntry[] = [
  { name: 'build', summary: 'build an image from a Dockerfile, without a daemon and without root', load: async () => (await import('./build.js')).buildCommand },
  { name: 'plan', summary: 'show what a build would run: stages, expanded steps and cache keys, as JSON', load: async () => (await import('./plan.js')).planCommand },
  { name: 'info', summary: 'show what this machine offers slipway (user, namespaces, storage, runtime) and how to fix what is missing', load: async () => (await import('./info.js')).infoCommand },
  { name: 'run-step', summary: 'run one command in a root filesystem the way a RUN step runs (debugging, tests, benchmarks)', load: async () => (await import('./run.js')).runStepCommand },
  { name: 'pull', summary: 'pull an image from a registry into the local store', load: async () => (await import('./pull.js')).pullCommand },
  { name: 'push', summary: 'push an image from the local store or an OCI layout to a registry', load: async () => (await import('./push.js')).pushCommand },
  { name: 'inspect', summary: "show an image's manifest and config as JSON", load: async () => (await import('./inspect.js')).inspectCommand },
  { name: 'login', summary: 'log in to a registry (verifies the credentials, then saves them)', load: async () => (await import('./login.js')).loginCommand },
  { name: 'logout', summary: 'remove the saved credentials for a registry', load: async () => (await import('./logout.js')).logoutCommand },
  { name: 'images', summary: 'list the images in the local store', load: async () => (await import('./images.js')).imagesCommand },
  { name: 'tag', summary: 'give an image in the local store another name', load: async () => (await import('./tag.js')).tagCommand },
  { name: 'rmi', summary: 'remove images from the local store', load: async () => (await import('./rmi.js')).rmiCommand },
  { name: 'save', summary: 'write an image from the local store to an OCI layout, OCI archive or docker-archive', load: async () => (await import('./save.js')).saveCommand },
];
