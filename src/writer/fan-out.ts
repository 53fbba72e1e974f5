import { AppError } from "../errors";

/**
 * Sends one webhook message to the optional EVENTS queue (nothing when it is not bound). A
 * failed send is storage_unavailable, like a failed write: the webhook answers 5xx and Finch
 * delivers the event again.
 */
export async function fanOut(queue: Queue<unknown> | undefined, message: unknown): Promise<void> {
  if (!queue || message === undefined) return;
  try {
    await queue.send(message, { contentType: "json" });
  } catch {
    throw new AppError("storage_unavailable", "queue send failed");
  }
}
