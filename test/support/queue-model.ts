import toml from "../../wrangler.toml?raw";

/**
 * A small model of Cloudflare Queues' delivery rules, with simulated time, for driving the real
 * consumer functions through long outages (test/faults/app-events-dead-letters.test.ts):
 *
 * - a consumer gets batches of up to `max_batch_size` visible messages; `attempts` counts
 *   deliveries (1 on the first);
 * - `ack()` removes a message, `retry({ delaySeconds })` hides it for that long (else the
 *   consumer's `retry_delay`); a handler that returns acks every message it did not retry, one
 *   that throws retries every message it did not ack (after `retry_delay`);
 * - a message retried after its `max_retries + 1`-th delivery moves to the consumer's
 *   `dead_letter_queue` as a new message, or is deleted when there is none;
 * - a message older than the retention period (4 days, Cloudflare's default) is deleted;
 * - `send(body, { delaySeconds })` from a consumer enqueues a new message.
 *
 * Every deletion other than an ack is recorded in `lost`.
 */
export interface ConsumerConfig {
  max_batch_size: number;
  max_retries: number;
  retry_delay: number;
  dead_letter_queue: string | undefined;
}

/** A consumer's settings as wrangler.toml gives them, with Cloudflare's defaults for the ones left out. */
export function consumerConfig(queue: string, text: string = toml): ConsumerConfig | undefined {
  const block = text
    .split("[[queues.consumers]]")
    .slice(1)
    .map((b) => b.split(/^\[/m)[0] ?? "")
    .find((b) => new RegExp(`^queue = "${queue}"$`, "m").test(b));
  if (block === undefined) return undefined;
  const num = (key: string, fallback: number) => {
    const m = new RegExp(`^${key} = (\\d+)$`, "m").exec(block);
    return m ? Number(m[1]) : fallback;
  };
  return {
    max_batch_size: num("max_batch_size", 10),
    max_retries: num("max_retries", 3),
    retry_delay: num("retry_delay", 0),
    dead_letter_queue: /^dead_letter_queue = "([^"]+)"$/m.exec(block)?.[1],
  };
}

interface Held {
  id: string;
  body: unknown;
  attempts: number;
  visibleAt: number;
  enqueuedAt: number;
}

export type Consume = (batch: MessageBatch<unknown>) => Promise<void>;

export const RETENTION_S = 4 * 24 * 3600;

export class QueueModel {
  /** Simulated time, ms. */
  now = 0;
  readonly lost: { queue: string; body: unknown; why: "max_retries" | "retention" }[] = [];
  /** Deliveries per queue, and how many batches threw. */
  readonly delivered = new Map<string, number>();
  thrown = 0;
  private readonly held = new Map<string, Held[]>();
  private seq = 0;

  constructor(private readonly configs: Record<string, ConsumerConfig>) {
    for (const name of Object.keys(configs)) this.held.set(name, []);
  }

  /** A producer binding for `queue` (only `send` is modelled). */
  producer(queue: string): Pick<Queue<unknown>, "send"> {
    return {
      send: async (body, options) => {
        this.enqueue(queue, body, options?.delaySeconds ?? 0);
        return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } };
      },
    };
  }

  enqueue(queue: string, body: unknown, delaySeconds = 0): void {
    const list = this.held.get(queue);
    if (!list) throw new Error(`no such queue ${queue}`);
    const at = this.now;
    list.push({ id: `m${++this.seq}`, body, attempts: 0, visibleAt: at + delaySeconds * 1000, enqueuedAt: at });
  }

  /** Messages still held, per queue. */
  pending(queue: string): number {
    return this.held.get(queue)?.length ?? 0;
  }

  /**
   * Delivers whatever is visible, queue by queue, moving the clock to the next visible message,
   * until nothing is held or the clock passes `untilMs`. `consumers` maps each queue to its handler.
   */
  async run(consumers: Record<string, Consume>, untilMs: number): Promise<void> {
    for (;;) {
      this.expire();
      const next = Math.min(...[...this.held.values()].flat().map((m) => m.visibleAt));
      if (!Number.isFinite(next) || next > untilMs) return;
      this.now = Math.max(this.now, next);
      for (const [queue, list] of this.held) {
        const config = this.configs[queue] as ConsumerConfig;
        const visible = list.filter((m) => m.visibleAt <= this.now).slice(0, config.max_batch_size);
        if (visible.length) await this.deliver(queue, config, visible, consumers[queue] as Consume);
      }
    }
  }

  private expire(): void {
    for (const [queue, list] of this.held) {
      for (const m of list.filter((m) => this.now - m.enqueuedAt > RETENTION_S * 1000)) {
        this.remove(queue, m);
        this.lost.push({ queue, body: m.body, why: "retention" });
      }
    }
  }

  private remove(queue: string, m: Held): void {
    const list = this.held.get(queue) as Held[];
    list.splice(list.indexOf(m), 1);
  }

  private async deliver(queue: string, config: ConsumerConfig, held: Held[], consume: Consume): Promise<void> {
    const outcome = new Map<Held, { acked: true } | { delaySeconds: number | undefined }>();
    const messages = held.map((m): Message<unknown> => {
      m.attempts++;
      return {
        id: m.id,
        timestamp: new Date(m.enqueuedAt),
        body: m.body,
        attempts: m.attempts,
        ack: () => {
          if (!outcome.has(m)) outcome.set(m, { acked: true });
        },
        retry: (options) => {
          if (!outcome.has(m)) outcome.set(m, { delaySeconds: options?.delaySeconds });
        },
      };
    });
    this.delivered.set(queue, (this.delivered.get(queue) ?? 0) + held.length);
    let threw = false;
    try {
      await consume({
        queue,
        metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } },
        messages,
        ackAll: () => {
          for (const m of messages) m.ack();
        },
        retryAll: (options) => {
          for (const m of messages) m.retry(options);
        },
      });
    } catch {
      threw = true;
      this.thrown++;
    }
    for (const m of held) {
      const o = outcome.get(m) ?? (threw ? { delaySeconds: undefined } : { acked: true as const });
      if ("acked" in o) {
        this.remove(queue, m);
      } else if (m.attempts > config.max_retries) {
        this.remove(queue, m);
        if (config.dead_letter_queue) this.enqueue(config.dead_letter_queue, m.body);
        else this.lost.push({ queue, body: m.body, why: "max_retries" });
      } else {
        m.visibleAt = this.now + (o.delaySeconds ?? config.retry_delay) * 1000;
      }
    }
  }
}
