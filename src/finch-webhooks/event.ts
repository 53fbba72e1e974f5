import * as v from "valibot";
import { AppError } from "../errors";
import { CONNECTION_STATUS, ConnectionIdSchema } from "../finch/schemas";

/**
 * The shape of a verified Finch webhook body, parsed from unknown. Only what this service
 * reads is checked; `data` is passed through as is (to the queue). Finch's own types mark
 * `connection_id` optional (old connections were keyed by account/company), and a
 * dashboard test sends `event_type: "test"`, so neither needs a connection id here.
 */
const id = v.nullish(v.pipe(v.string(), v.maxLength(128)));

const EVENT_TYPE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/;

const WebhookBodySchema = v.object({
  event_type: v.pipe(v.string(), v.regex(EVENT_TYPE)),
  connection_id: v.nullish(ConnectionIdSchema),
  company_id: id,
  account_id: id,
  entity_id: id,
  data: v.optional(v.unknown()),
});

const AccountUpdatedDataSchema = v.object({
  status: v.pipe(v.string(), v.regex(CONNECTION_STATUS)),
});

export interface WebhookEvent {
  event_type: string;
  connection_id: string | undefined;
  company_id: string | undefined;
  account_id: string | undefined;
  entity_id: string | undefined;
  data: unknown;
  /** Set for `account.updated`: the connection's new status. */
  status: string | undefined;
}

/** The dotted path of the first problem under `root` ("data.status"), for the log line. */
const fieldOf = (root: string, issues: readonly v.BaseIssue<unknown>[]): string => {
  const path = v.getDotPath(issues[0] as v.BaseIssue<unknown>);
  return [root, path].filter(Boolean).join(".") || "body";
};

/** Parses the raw body after its signature verified. Any problem is webhook_body_invalid naming the field. */
export function parseWebhookEvent(body: string): WebhookEvent {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new AppError("webhook_body_invalid", "body is not JSON");
  }
  const parsed = v.safeParse(WebhookBodySchema, json);
  if (!parsed.success) throw new AppError("webhook_body_invalid", `${fieldOf("", parsed.issues)} invalid`);
  const e = parsed.output;
  let status: string | undefined;
  if (e.event_type === "account.updated") {
    const data = v.safeParse(AccountUpdatedDataSchema, e.data);
    if (!data.success) throw new AppError("webhook_body_invalid", `${fieldOf("data", data.issues)} invalid`);
    status = data.output.status;
  }
  return {
    event_type: e.event_type,
    connection_id: e.connection_id ?? undefined,
    company_id: e.company_id ?? undefined,
    account_id: e.account_id ?? undefined,
    entity_id: e.entity_id ?? undefined,
    data: e.data ?? null,
    status,
  };
}
