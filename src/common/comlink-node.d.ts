/**
 * comlink's Node adapter ships its types as node-adapter.d.ts beside an .mjs file, where
 * TypeScript's node16 resolution does not look; this says the same for the path we import.
 */
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  import type { MessagePort, Worker } from 'node:worker_threads';
  export default function nodeEndpoint(endpoint: Worker | MessagePort): Endpoint;
}
