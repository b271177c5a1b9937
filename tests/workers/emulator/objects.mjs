// Durable Objects as one Worker isolate sees them: a namespace binding in `env`,
// ids derived from names, stubs whose fetch() reaches the object, and one live
// instance per id that every request to that id shares.
//
// The class names are workerd's: the workers SDK recognises a namespace binding
// by its constructor name ("DurableObjectNamespace") and wraps it. An instance
// is built on the first request to its id, with its own DurableObjectState, and
// then lives as long as the emulator process (no eviction, no hibernation).

import { createHash } from "node:crypto";

export class DurableObjectId {
  #hex;

  constructor(name) {
    this.name = name;
    this.#hex = createHash("sha256").update(name).digest("hex");
  }

  toString() {
    return this.#hex;
  }

  equals(other) {
    return other instanceof DurableObjectId && other.toString() === this.#hex;
  }
}

// `ctx` of a Durable Object: its id and waitUntil. Storage, alarms, WebSocket
// hibernation and blockConcurrencyWhile are not emulated (absent attributes).
export class DurableObjectState {
  #pending = new Set();

  constructor(id) {
    this.id = id;
  }

  waitUntil(promise) {
    const task = Promise.resolve(promise)
      .catch((error) => console.error("Durable Object waitUntil task failed:", error))
      .finally(() => this.#pending.delete(task));
    this.#pending.add(task);
  }
}

export class DurableObjectStub {
  #deliver;

  constructor(id, deliver) {
    this.id = id;
    this.name = id.name;
    this.#deliver = deliver;
  }

  // The request crosses into the object as a new Request, as a stub call does.
  async fetch(input, init) {
    return this.#deliver(this.id, new Request(input, init));
  }
}

// `construct(id)` resolves to the object's request handler: (Request) => Promise<Response>.
export class DurableObjectNamespace {
  #construct;
  #instances = new Map();

  constructor(construct) {
    this.#construct = construct;
  }

  idFromName(name) {
    return new DurableObjectId(String(name));
  }

  get(id) {
    if (!(id instanceof DurableObjectId)) throw new TypeError("get() takes a DurableObjectId");
    return new DurableObjectStub(id, (target, request) => this.#deliver(target, request));
  }

  getByName(name) {
    return this.get(this.idFromName(name));
  }

  async #deliver(id, request) {
    const handler = await this.#instance(id);
    return handler(request);
  }

  #instance(id) {
    const key = id.toString();
    if (!this.#instances.has(key)) {
      const built = this.#construct(id);
      // A constructor that failed is tried again by the next request, as workerd does.
      built.catch(() => this.#instances.delete(key));
      this.#instances.set(key, built);
    }
    return this.#instances.get(key);
  }
}
