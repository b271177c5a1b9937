// Transport shim: points the UNCHANGED official client at a local http:// gateway.
//
// Why a shim: @prisma/ppg 1.0.1 derives its endpoint from the connection string as
// `https://HOST` (dist/index.js, parseConnectionString: the scheme is fixed and the port is
// dropped) and has no documented option to name an http:// endpoint. Its `transportConfig`
// override is an internal testing hook missing from the published typings, so relying on it
// would test a path real users never take. Instead the client parses a real connection string
// exactly as in production, and this module rewrites at the transport boundary only: fetch()
// and WebSocket connections addressed to `https://HOST` / `wss://HOST` (HOST from the
// connection string) are sent to the gateway's `http://` / `ws://` origin, path and query kept.
// Any other destination is refused, so a test can never reach the network.
//
// Node 20 has no global WebSocket. The client would fall back to `import("ws")`, but its
// isReady() reads the global `WebSocket.OPEN`, so a global must exist: we install a subclass
// of the npm `ws` WebSocket that applies the same rewrite.
import { WebSocket as NodeWebSocket } from "ws";

/** Builds the rewrite from the client's derived origin to the gateway's origin. */
function makeRewriter(connectionString, gatewayUrl) {
  const hostname = new URL(connectionString).hostname;
  const gateway = new URL(gatewayUrl);
  const routes = new Map([
    [`https://${hostname}`, `${gateway.protocol}//${gateway.host}`],
    [`wss://${hostname}`, `${gateway.protocol.replace("http", "ws")}//${gateway.host}`],
  ]);
  return (target) => {
    const url = new URL(String(target));
    const origin = routes.get(`${url.protocol}//${url.host}`);
    if (origin === undefined) {
      throw new Error(`interop shim: refusing unexpected destination ${url.origin}`);
    }
    return `${origin}${url.pathname}${url.search}`;
  };
}

/** Installs the fetch and WebSocket rewrites; call before the client makes any request. */
export function installTransportShim(connectionString, gatewayUrl) {
  const rewrite = makeRewriter(connectionString, gatewayUrl);
  const originalFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    if (input instanceof Request) {
      return originalFetch(new Request(rewrite(input.url), input), init);
    }
    return originalFetch(rewrite(input), init);
  };
  globalThis.WebSocket = class RewritingWebSocket extends NodeWebSocket {
    constructor(address, protocols, options) {
      super(rewrite(address), protocols, options);
    }
  };
}
