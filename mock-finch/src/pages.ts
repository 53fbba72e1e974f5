// HTML pages of the mock Connect UI. No scripts, no external assets; everything escaped.

export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const STYLE = `
  :root { color-scheme: light; --ink: #14213d; --muted: #5c677d; --line: #e3e7ef; --brand: #2f5bea; }
  * { box-sizing: border-box; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f4f6fb;
         font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
  main { width: min(420px, 92vw); background: #fff; border: 1px solid var(--line); border-radius: 14px;
         box-shadow: 0 8px 30px rgba(20, 33, 61, .08); padding: 28px; }
  .badge { display: inline-block; font-size: 12px; font-weight: 600; letter-spacing: .04em; text-transform: uppercase;
           color: #8a5a00; background: #fff4d6; border-radius: 999px; padding: 2px 10px; }
  h1 { font-size: 20px; margin: 12px 0 4px; }
  p { color: var(--muted); margin: 0 0 16px; }
  dl { margin: 0 0 20px; display: grid; grid-template-columns: max-content 1fr; gap: 6px 14px; }
  dt { color: var(--muted); } dd { margin: 0; font-weight: 500; word-break: break-all; }
  ul { margin: 0 0 22px; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: 6px; }
  li { background: #eef2ff; color: var(--brand); border-radius: 6px; padding: 2px 8px; font-size: 13px; }
  .actions { display: flex; gap: 10px; }
  .actions a { flex: 1; text-align: center; text-decoration: none; font-weight: 600; border-radius: 8px; padding: 10px; }
  #approve { background: var(--brand); color: #fff; }
  #deny, #return { border: 1px solid var(--line); color: var(--ink); }
  code { display: block; background: #f4f6fb; border-radius: 8px; padding: 10px; word-break: break-all; }
  .alt { margin: 18px 0 0; font-size: 13px; }
  footer { margin-top: 18px; font-size: 12px; color: var(--muted); }
`;

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)} · Mock Finch Connect</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<span class="badge">Mock Finch Connect</span>
${body}
<footer>Local development mock. No real payroll provider is contacted.</footer>
</main>
</body>
</html>`;
}

export interface AuthorizeView {
  customerName: string;
  customerId: string;
  products: readonly string[];
  reauthentication: boolean;
  providerName: string;
  approveHref: string;
  denyHref: string;
  /** Approve as the two-entity provider instead (new connections only). */
  multiEntityHref?: string | undefined;
}

export function authorizePage(view: AuthorizeView): string {
  const heading = view.reauthentication ? "Reconnect your payroll provider" : "Connect your payroll provider";
  const items = view.products.map((p) => `<li>${escapeHtml(p)}</li>`).join("");
  return layout(
    heading,
    `<h1>${escapeHtml(heading)}</h1>
<p>An application is asking for read access to your payroll data through Finch.</p>
<dl>
<dt>Customer</dt><dd id="customer-name">${escapeHtml(view.customerName)}</dd>
<dt>Customer ID</dt><dd id="customer-id">${escapeHtml(view.customerId)}</dd>
<dt>Provider</dt><dd id="provider">${escapeHtml(view.providerName)} (sandbox)</dd>
</dl>
<p>Requested access:</p>
<ul id="products">${items}</ul>
<div class="actions">
<a id="deny" href="${escapeHtml(view.denyHref)}">Deny</a>
<a id="approve" href="${escapeHtml(view.approveHref)}">Approve</a>
</div>${
      view.multiEntityHref
        ? `
<p class="alt">Or approve as a provider with two entities:
<a id="approve-multi-entity" href="${escapeHtml(view.multiEntityHref)}">Finch multi-entity</a></p>`
        : ""
    }`,
  );
}

/** An expired session: it cannot be approved; the link (when there is a way back) ends at the app. */
export function expiredPage(expiredAt: string, returnHref: string | null): string {
  const back = returnHref
    ? `<div class="actions"><a id="return" href="${escapeHtml(returnHref)}">Return to the application</a></div>`
    : "";
  return layout(
    "Session expired",
    `<h1>Session expired</h1>
<p>This Connect session expired at <span id="expired-at">${escapeHtml(expiredAt)}</span> and can no longer be approved. Ask the application for a new link.</p>
${back}`,
  );
}

export function messagePage(title: string, message: string): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`);
}

/** Embedded flow without a callback URL: show the code so a developer can paste it. */
export function codePage(code: string, state: string | null): string {
  const stateRow = state === null ? "" : `<p>State:</p><code id="state">${escapeHtml(state)}</code>`;
  return layout(
    "Connected",
    `<h1>Connected</h1>
<p>In the embedded flow Finch hands this authorization code to your front end. Exchange it within 10 minutes.</p>
<code id="code">${escapeHtml(code)}</code>
${stateRow}`,
  );
}
