/** Typed access to the VS Code webview API (acquireVsCodeApi may be called once per page). */
import type { FromWebview } from '../../src/webviewProtocol';

interface VsCodeApi<S> {
  postMessage(message: unknown): void;
  getState(): S | undefined;
  setState(state: S): void;
}
declare function acquireVsCodeApi<S>(): VsCodeApi<S>;

export interface Host<S> {
  post(message: FromWebview): void;
  getState(): S | undefined;
  setState(state: S): void;
}

export function connect<S>(): Host<S> {
  const api = acquireVsCodeApi<S>();
  return {
    post: (m) => api.postMessage(m),
    getState: () => api.getState(),
    setState: (s) => api.setState(s),
  };
}
