// Worker module for the bench's counting pass (never shipped). It imports a subject's bundle
// unchanged as "./subject.js" and hands it an env whose CONNECTIONS binding is wrapped in a
// Proxy that counts every KV call the subject makes. GET /__bench/kv returns the counters,
// with ?reset=1 it also zeroes them. Timed runs use the bare bundle without this wrapper.
import subject from "./subject.js";

// The subject's named exports (RPC entrypoints, Durable Object classes) must be exported by the
// main module for their bindings to resolve.
export * from "./subject.js";

const counts = { get: 0, getKeys: 0, getWithMetadata: 0, put: 0, delete: 0, list: 0 };
const wrappedEnvs = new WeakMap();

function countingKv(ns) {
  return new Proxy(ns, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      return (...args) => {
        if (prop in counts) counts[prop]++;
        // A bulk get (array of keys) is one call but reads several keys.
        if ((prop === "get" || prop === "getWithMetadata") && Array.isArray(args[0])) {
          counts.getKeys += args[0].length;
        } else if (prop === "get" || prop === "getWithMetadata") {
          counts.getKeys++;
        }
        return value.apply(target, args);
      };
    },
  });
}

// One wrapped env per real env object, so the subject's per-isolate caches keyed by env hold.
function wrapEnv(env) {
  let wrapped = wrappedEnvs.get(env);
  if (!wrapped) {
    wrapped = { ...env, CONNECTIONS: countingKv(env.CONNECTIONS) };
    wrappedEnvs.set(env, wrapped);
  }
  return wrapped;
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__bench/kv") {
      const snapshot = { ...counts };
      if (url.searchParams.has("reset")) for (const k of Object.keys(counts)) counts[k] = 0;
      return Response.json(snapshot);
    }
    return subject.fetch(request, wrapEnv(env), ctx);
  },
};
