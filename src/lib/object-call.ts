import { AppError } from "../errors";

/**
 * Every call from this Worker to one of its Durable Objects goes through here: a call that
 * throws (the object could not be reached, or was reset mid-call) is `storage_unavailable`,
 * "try again", like any other storage failure. The error's class names which in the log
 * detail (its message could carry anything, so it stays out).
 *
 * @example
 * const grant = await objectCall("rate budget acquire", () => stub.acquire(request));
 */
export async function objectCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (cause) {
    const kind = cause instanceof Error ? cause.name : "non-error";
    throw new AppError("storage_unavailable", `${what} unreachable (${kind})`, { cause });
  }
}
