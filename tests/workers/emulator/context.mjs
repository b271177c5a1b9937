// Execution contexts: what `ctx` (a request's) and a Durable Object's state offer for
// waitUntil, and which context the code running now belongs to.

import { AsyncLocalStorage } from "node:async_hooks";

const WAIT_UNTIL_LIMIT_MS = 30_000; // Workers lets waitUntil work run this long after the response

// The context of the code running now: the request's ExecutionContext, or the
// DurableObjectState of the object whose handler runs.
export const currentContext = new AsyncLocalStorage();

// A request's `ctx`: waitUntil work is awaited after the response, up to the limit.
export class ExecutionContext {
  #pending = [];

  waitUntil(promise) {
    this.#pending.push(
      Promise.resolve(promise).catch((error) => console.error("waitUntil task failed:", error)),
    );
  }

  passThroughOnException() {}

  async settle() {
    let timer;
    const limit = new Promise((resolve) => {
      timer = setTimeout(resolve, WAIT_UNTIL_LIMIT_MS);
    });
    await Promise.race([Promise.allSettled(this.#pending), limit]);
    clearTimeout(timer);
  }
}

// What workerd's entrypoint helper does to ctx: let waitUntil take a Python
// awaitable. The borrowed proxy is copied so it outlives the Python call.
export function patchWaitUntil(ctx) {
  if (ctx.__patched) return;
  const original = ctx.waitUntil.bind(ctx);
  ctx.waitUntil = (value) => {
    const owned = typeof value?.copy === "function" ? value.copy() : value;
    original(
      (async () => {
        try {
          return await owned;
        } finally {
          owned?.destroy?.();
        }
      })(),
    );
  };
  ctx.__patched = true;
}
