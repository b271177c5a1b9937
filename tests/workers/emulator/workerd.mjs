// The JavaScript surface a Python Worker sees in workerd, rebuilt on Node.
//
// Node already has WHATWG fetch, Request, Response, Headers and streams. What
// differs in workerd, and is reproduced here:
//   - navigator.userAgent is "Cloudflare-Workers";
//   - fetch() takes only http: and https: URLs, and a request carrying
//     "Upgrade: websocket" performs a WebSocket handshake: the answer is a
//     101 response whose `webSocket` must be accept()ed before use;
//   - WebSocket objects are workerd's: accept(), send(), close(), events
//     buffered until accept(), binary messages as ArrayBuffer;
//   - `new WebSocket(url, protocols)` opens a client socket (browser-style).
// The sockets themselves are npm `ws` clients.

import { WebSocket as WsClient } from "ws";

const nodeFetch = globalThis.fetch;

function makeEvent(type, fields) {
  const event = new Event(type);
  for (const [key, value] of Object.entries(fields)) {
    Object.defineProperty(event, key, { value, enumerable: true });
  }
  return event;
}

function toArrayBuffer(buffer) {
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
}

// A workerd WebSocket around a connected `ws` client.
export class WorkersWebSocket extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  #client = null;
  #accepted = false;
  #pending = [];

  constructor(url, protocols) {
    super();
    this.protocol = "";
    this.readyState = WorkersWebSocket.CONNECTING;
    if (url !== undefined) {
      // Browser-style client: events flow as soon as the socket opens.
      this.#accepted = true;
      const client = new WsClient(url.replace(/^http/, "ws"), protocols ?? []);
      client.on("open", () => {
        this.protocol = client.protocol;
        this.readyState = WorkersWebSocket.OPEN;
        this.#emit(makeEvent("open", {}));
      });
      client.on("error", (error) => this.#emit(makeEvent("error", { message: String(error) })));
      this._attach(client);
    }
  }

  _attach(client) {
    this.#client = client;
    client.on("message", (data, isBinary) => {
      const payload = isBinary ? toArrayBuffer(data) : data.toString("utf8");
      this.#emit(makeEvent("message", { data: payload }));
    });
    client.on("close", (code, reason) => {
      this.readyState = WorkersWebSocket.CLOSED;
      this.#emit(
        makeEvent("close", { code, reason: reason.toString("utf8"), wasClean: code !== 1006 }),
      );
    });
    if (client.readyState === WsClient.OPEN) {
      this.protocol = client.protocol;
      this.readyState = WorkersWebSocket.OPEN;
    }
  }

  #emit(event) {
    if (this.#accepted) {
      this.dispatchEvent(event);
    } else {
      this.#pending.push(event);
    }
  }

  accept() {
    if (this.#accepted) throw new TypeError("WebSocket already accepted");
    this.#accepted = true;
    for (const event of this.#pending.splice(0)) this.dispatchEvent(event);
  }

  send(data) {
    if (!this.#accepted) throw new TypeError("You must call accept() on this WebSocket before sending messages.");
    if (this.readyState !== WorkersWebSocket.OPEN) throw new TypeError("Can't call WebSocket send() after close().");
    if (typeof data === "string") {
      this.#client.send(data);
    } else if (ArrayBuffer.isView(data)) {
      this.#client.send(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { binary: true });
    } else if (data instanceof ArrayBuffer) {
      this.#client.send(Buffer.from(data), { binary: true });
    } else {
      throw new TypeError("WebSocket send() takes a string, ArrayBuffer or ArrayBufferView");
    }
  }

  close(code, reason) {
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999) && (code < 1001 || code > 1014)) {
      throw new TypeError(`Invalid WebSocket close code: ${code}`);
    }
    if (this.readyState >= WorkersWebSocket.CLOSING) return;
    this.readyState = WorkersWebSocket.CLOSING;
    this.#client.close(code ?? 1000, reason ?? "");
  }
}

// workerd's Response has a `webSocket` property: null unless the handshake succeeded.
function withWebSocket(response, socket) {
  Object.defineProperty(response, "webSocket", { value: socket, enumerable: true });
  return response;
}

function isUpgrade(headers) {
  return (headers.get("upgrade") ?? "").toLowerCase() === "websocket";
}

// fetch() with "Upgrade: websocket": the handshake as workerd performs it.
function upgrade(url, headers) {
  const protocols = (headers.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  const extra = {};
  for (const [name, value] of headers) {
    if (!["upgrade", "connection", "sec-websocket-protocol", "sec-websocket-key", "sec-websocket-version"].includes(name)) {
      extra[name] = value;
    }
  }
  const wsUrl = url.replace(/^http/, "ws");
  return new Promise((resolve, reject) => {
    const client = new WsClient(wsUrl, protocols, { headers: extra });
    let upgradeHeaders = new Headers();
    client.on("upgrade", (res) => {
      upgradeHeaders = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        upgradeHeaders.set(name, Array.isArray(value) ? value.join(", ") : value);
      }
    });
    client.on("open", () => {
      client.removeAllListeners("error");
      const socket = new WorkersWebSocket();
      socket._attach(client);
      resolve({
        status: 101,
        statusText: "Switching Protocols",
        ok: false,
        url,
        headers: upgradeHeaders,
        body: null,
        webSocket: socket,
        text: async () => "",
      });
    });
    client.on("unexpected-response", (_req, res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          headers.set(name, Array.isArray(value) ? value.join(", ") : value);
        }
        const body = res.statusCode === 204 || res.statusCode === 304 ? null : Buffer.concat(chunks);
        resolve(withWebSocket(new Response(body, { status: res.statusCode, headers }), null));
      });
      client.removeAllListeners("error");
      client.on("error", () => {});
    });
    client.on("error", (error) => reject(new TypeError(`Network connection lost: ${error.message}`)));
  });
}

export async function workersFetch(input, init = {}) {
  const request = new Request(input, init);
  const scheme = new URL(request.url).protocol;
  if (scheme !== "http:" && scheme !== "https:") {
    throw new TypeError(`Fetch API cannot load: ${request.url}`);
  }
  if (isUpgrade(request.headers)) {
    return upgrade(request.url, request.headers);
  }
  return withWebSocket(await nodeFetch(request), null);
}

export function installWorkersGlobals() {
  Object.defineProperty(globalThis, "navigator", {
    value: { userAgent: "Cloudflare-Workers", hardwareConcurrency: 1 },
    configurable: true,
    writable: true,
  });
  globalThis.fetch = workersFetch;
  globalThis.WebSocket = WorkersWebSocket;
}
