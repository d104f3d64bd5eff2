/**
 * Types for comlink's ES module build, which tfjs-newton imports by path: the package ships
 * its types for the UMD build only (its `main`). Importing the ES build gives this
 * library its own comlink module instance, so the error handler src/host/wire.ts installs
 * never changes a host application's own `import 'comlink'`.
 */
declare module 'comlink/dist/esm/comlink.mjs' {
  export * from 'comlink';
}

declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';

  /** The subset of a Node MessagePort / Worker / parentPort the adapter uses. */
  export interface NodeEndpoint {
    postMessage(message: unknown, transfer?: readonly unknown[]): void;
    on(type: string, listener: (value: unknown) => void): void;
    off(type: string, listener: (value: unknown) => void): void;
    start?: () => void;
  }
  /** A comlink Endpoint over a Node MessagePort, Worker or parentPort. */
  export default function nodeEndpoint(nep: NodeEndpoint): Endpoint;
}
