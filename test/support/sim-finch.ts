import type fc from "fast-check";
import { DecryptError, KeyNotFoundError, type KeyRing, type Sealed } from "../../src/crypto/keyring";
import { finch } from "./finch";

/**
 * Finch for the consistency simulation: tokens that rotate on every exchange (the old one stops
 * working at once), statuses Finch changes on its own (each change queues an account.updated
 * delivery), disconnect, sync jobs it finishes (asked of it before a job webhook is believed). Each reply is held on a fast-check scheduler task, so replies come back
 * in an order the schedule chooses, long after Finch acted on the request. Installed as the
 * test harness's overrides (test/support/finch.ts), so the Worker's real Finch client is used.
 */
export interface SimConnection {
  token: string | null;
  status: string;
  live: boolean;
  /** Finch's last successful sync (introspect's connection_status.last_successful_sync). */
  lastSync: string | null;
}

/** A sync job Finch ran and finished, as GET /jobs/automated/{job_id} reports it. */
export interface SimJob {
  connectionId: string;
  completedAt: string;
}

export interface PendingEvent {
  eventId: string;
  connectionId: string;
  status: string;
}

const json = (body: unknown, status = 200) => Response.json(body, { status });
const unauthorized = (finchCode?: string) =>
  json(
    { code: 401, name: "authentication_error", message: "no", ...(finchCode ? { finch_code: finchCode } : {}) },
    401,
  );

export class SimFinch {
  readonly connections = new Map<string, SimConnection>();
  readonly events: PendingEvent[] = [];
  /** Finished data_sync_all jobs, by job id. */
  readonly jobs = new Map<string, SimJob>();
  /** Every last_successful_sync Finch has reported, by connection (initial syncs are confirmed by it). */
  readonly syncTimes = new Map<string, Set<string>>();
  private serial = 0;

  constructor(private readonly scheduler: fc.Scheduler) {}

  private later<T>(value: T, label: string): Promise<T> {
    return this.scheduler.schedule(Promise.resolve(value), label);
  }

  private byToken(req: Request): [string, SimConnection] | undefined {
    const token = req.headers.get("authorization")?.replace(/^Bearer /, "");
    for (const entry of this.connections) if (entry[1].live && entry[1].token === token) return entry;
    return undefined;
  }

  /** The code a Connect flow for `connectionId` would hand back. */
  code(connectionId: string): string {
    return `code.${connectionId}`;
  }

  /** Finch changes a live connection's status and queues the account.updated it sends. */
  changeStatus(connectionId: string, status: string): void {
    const c = this.connections.get(connectionId);
    if (!c?.live) return;
    c.status = status;
    this.events.push({ eventId: `msg_${++this.serial}`, connectionId, status });
  }

  /**
   * Finch finishes a sync job of a live connection at `at`: a data_sync_all becomes a job Finch
   * reports complete; any sync moves the connection's last successful sync. A repeat is no-op.
   */
  finishJob(connectionId: string, jobId: string, jobType: string, at: string): void {
    const c = this.connections.get(connectionId);
    if (!c?.live || this.jobs.has(jobId)) return;
    if (jobType === "data_sync_all") this.jobs.set(jobId, { connectionId, completedAt: at });
    c.lastSync = at;
    const times = this.syncTimes.get(connectionId) ?? new Set<string>();
    times.add(at);
    this.syncTimes.set(connectionId, times);
  }

  /** GET /jobs/automated/{jobId} answers from `jobs` (404 for one Finch never ran for the token's connection). */
  serveJob(jobId: string): void {
    finch().override(`GET /jobs/automated/${jobId}`, (req) => {
      const found = this.byToken(req);
      if (!found) return this.later(unauthorized(), "job 401");
      const job = this.jobs.get(jobId);
      if (!job || job.connectionId !== found[0]) {
        return this.later(json({ code: 404, name: "not_found_error", message: "no such job" }, 404), "job 404");
      }
      const body = { job_id: jobId, type: "data_sync_all", status: "complete", completed_at: job.completedAt };
      return this.later(json(body), "job complete");
    });
  }

  install(): void {
    const harness = finch();
    harness.override("POST /auth/token", async (req) => {
      const { code } = (await req.json()) as { code: string };
      const id = code.slice("code.".length);
      // A (re-)authentication: a fresh token, the previous one revoked, the connection live.
      const token = `tok_${id.slice(0, 4)}_${++this.serial}`;
      const lastSync = this.connections.get(id)?.lastSync ?? null;
      this.connections.set(id, { token, status: "connected", live: true, lastSync });
      const body = { access_token: token, token_type: "bearer", connection_id: id, customer_id: "acme" };
      return this.later(
        json({ ...body, customer_name: "Acme", products: ["company"], provider_id: "gusto" }),
        "exchange",
      );
    });
    harness.override("GET /introspect", (req) => {
      const found = this.byToken(req);
      if (!found) return this.later(unauthorized(), "introspect 401");
      const [id, c] = found;
      const body = {
        connection_id: id,
        connection_status: { status: c.status, last_successful_sync: c.lastSync, message: null },
        authentication_methods: [{ type: "credential", connection_status: { status: c.status } }],
      };
      return this.later(json(body), `introspect ${c.status}`);
    });
    harness.override("POST /disconnect", (req) => {
      const found = this.byToken(req);
      if (!found) return this.later(unauthorized(), "disconnect 401");
      found[1].live = false;
      found[1].token = null;
      return this.later(json({ status: "success" }), "disconnect");
    });
    harness.override("GET /employer/company", (req) => {
      const found = this.byToken(req);
      if (!found) return this.later(unauthorized(), "data 401");
      if (found[1].status === "reauth") return this.later(unauthorized("reauthenticate_user"), "data reauth");
      return this.later(json({ id: "company" }), "data 200");
    });
  }
}

/**
 * A key ring for the simulation: two keys, either can be made active (a rotation), and no
 * real cryptography, so the schedule alone decides the order of events. The sealed form
 * keeps the token readable to the checks; the Worker's own ring is tested elsewhere.
 */
export function simRing(): KeyRing & { rotate(): void } {
  const kids = ["k1", "k2"];
  let active = 0;
  let iv = 0;
  return {
    get activeKid() {
      return kids[active] as string;
    },
    kids,
    rotate() {
      active = 1 - active;
    },
    async seal(plaintext, aad) {
      return { kid: kids[active] as string, iv: String(++iv), ct: btoa(`${aad}|${plaintext}`) };
    },
    async open(sealed: Sealed, aad) {
      if (!kids.includes(sealed.kid)) throw new KeyNotFoundError(sealed.kid);
      const text = atob(sealed.ct);
      if (!text.startsWith(`${aad}|`)) throw new DecryptError("aad mismatch");
      return text.slice(aad.length + 1);
    },
  };
}

/** The token inside a sealed value of simRing (synchronously, for checks made between steps). */
export const unsealSim = (sealed: Sealed): string => {
  const text = atob(sealed.ct);
  return text.slice(text.indexOf("|") + 1);
};
