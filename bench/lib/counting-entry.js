// Worker module for the bench's counting pass (never shipped). It imports a subject's bundle
// unchanged as "./subject.js" and hands it an env whose CONNECTIONS binding is wrapped in a
// Proxy that counts every KV call the subject makes, and whose CONNECTION_WRITER binding (when
// there is one) and TICKETS binding count every call on a Durable Object stub (each is one
// billed request), and likewise apart every call on a RATE_BUDGET stub. The
// Durable Object classes are re-exported with the same wrapped env, so KV calls made by the
// connection's writer are counted too.
// Ours split in two: the public Worker and the state Worker (the objects) each run this module,
// with counters of their own; the public one's BENCH_STATE_COUNTS service binding reaches the
// state one, and GET /__bench/kv answers the sum of both. So the figures count what they did
// before the split: the Worker's KV and object calls plus the objects' own (their KV calls,
// calls to other objects, the writer's SQLite rows and alarms).
// GET /__bench/kv returns the counters, with ?reset=1 it also zeroes them. Timed runs use the
// bare bundle without this wrapper.
// biome-ignore lint/correctness/noUnusedImports: the classes serve.mjs appends extend modules.<class>.
import subject, * as modules from "./subject.js";

const counts = {
  get: 0,
  getKeys: 0,
  getWithMetadata: 0,
  put: 0,
  delete: 0,
  list: 0,
  doRequests: 0,
  budgetRequests: 0,
  writerSqlRows: 0,
  writerAlarms: 0,
};
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

function countingStub(stub, counter) {
  return new Proxy(stub, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      // Reflect.apply, not value.apply: on an RPC stub, `.apply` would be a remote method.
      return (...args) => {
        counts[counter]++;
        return Reflect.apply(value, target, args);
      };
    },
  });
}

function countingNamespace(ns, counter) {
  return new Proxy(ns, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      if (prop === "get") return (...args) => countingStub(Reflect.apply(value, target, args), counter);
      return (...args) => Reflect.apply(value, target, args);
    },
  });
}

// One wrapped env per real env object, so the subject's per-isolate caches keyed by env hold.
function wrapEnv(env) {
  let wrapped = wrappedEnvs.get(env);
  if (!wrapped) {
    // The bench's own binding stays out of the subject's env.
    const { BENCH_STATE_COUNTS: _, ...rest } = env;
    wrapped = { ...rest, CONNECTIONS: countingKv(env.CONNECTIONS) };
    if (env.CONNECTION_WRITER) wrapped.CONNECTION_WRITER = countingNamespace(env.CONNECTION_WRITER, "doRequests");
    // The one-time ticket ledger (issue 9): /connect's object requests, billed like the writer's.
    if (env.TICKETS) wrapped.TICKETS = countingNamespace(env.TICKETS, "doRequests");
    // The app-wide Finch rate budget (issue 13): the one object request a proxied call may make.
    if (env.RATE_BUDGET) wrapped.RATE_BUDGET = countingNamespace(env.RATE_BUDGET, "budgetRequests");
    wrappedEnvs.set(env, wrapped);
  }
  return wrapped;
}

// The connection's writer's own storage work, counted: SQLite rows written (the cursor's
// rowsWritten of every statement that writes) and alarms set or removed (each a storage write).
const WRITES = /^\s*(INSERT|UPDATE|DELETE|REPLACE)/i;

// biome-ignore lint/correctness/noUnusedVariables: the classes serve.mjs appends call it.
function wrapWriterCtx(ctx) {
  // The runtime's objects cannot be wrapped in a Proxy (their methods check `this`): their
  // methods are replaced on the instances instead, calling through to the originals.
  const storage = ctx.storage;
  const sql = storage.sql;
  const exec = sql.exec.bind(sql);
  sql.exec = (query, ...args) => {
    const cursor = exec(query, ...args);
    if (WRITES.test(query)) counts.writerSqlRows += cursor.rowsWritten;
    return cursor;
  };
  for (const name of ["setAlarm", "deleteAlarm"]) {
    const original = storage[name].bind(storage);
    storage[name] = (...args) => {
      counts.writerAlarms++;
      return original(...args);
    };
  }
  return ctx;
}

// serve.mjs appends, for each Durable Object class of the subject, a subclass constructed
// with the counting env (and, for the connection's writer, a counting storage):
//   export class X extends modules.X { constructor(c, e) { super(c, wrapEnv(e)); } }

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__bench/kv") {
      const snapshot = { ...counts };
      if (url.searchParams.has("reset")) for (const k of Object.keys(counts)) counts[k] = 0;
      if (env.BENCH_STATE_COUNTS) {
        const state = await (await env.BENCH_STATE_COUNTS.fetch(request)).json();
        for (const [k, n] of Object.entries(state)) snapshot[k] = (snapshot[k] ?? 0) + n;
      }
      return Response.json(snapshot);
    }
    return subject.fetch(request, wrapEnv(env), ctx);
  },
};
