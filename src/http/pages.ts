/**
 * The two small pages a customer may see. Self-contained (inline CSS, no script), so the
 * strict CSP in http/security.ts holds. Every value is escaped. The empty icon link stops
 * the browser from asking for /favicon.ico (a 404 in every customer's console).
 */
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

const STYLE = `
:root{color-scheme:light dark;font-family:system-ui,sans-serif}
body{margin:0;min-height:100vh;display:grid;place-items:center;background:#f4f5f7;color:#1d2330}
main{max-width:28rem;margin:1.5rem;padding:2rem 2.25rem;background:#fff;border-radius:14px;box-shadow:0 6px 24px rgba(20,30,60,.08)}
.badge{width:2.75rem;height:2.75rem;border-radius:50%;display:grid;place-items:center;font-size:1.4rem;font-weight:700;color:#fff}
.ok{background:#1f9d55}.err{background:#c53030}
h1{font-size:1.35rem;margin:1rem 0 .5rem}p{line-height:1.5;margin:.5rem 0;color:#444b5a}
#provider{text-transform:capitalize}
code{font-family:ui-monospace,monospace;background:#eef0f4;padding:.1rem .35rem;border-radius:5px;font-size:.85em;white-space:nowrap}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem .9rem;margin:1rem 0}dd{margin:0}
dl,.hint{font-size:.9rem}dt,.hint{color:#6b7385}
.hint{border-top:1px solid #eceef2;padding-top:.9rem;margin-top:1rem}
@media (prefers-color-scheme:dark){body{background:#11151c;color:#e8ebf0}main{background:#1a2029}p{color:#b4bccb}code{background:#262d39}.hint{border-color:#2a3240}}
`;

function page(title: string, badge: "ok" | "err", body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><link rel="icon" href="data:,"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main><div class="badge ${badge}" aria-hidden="true">${badge === "ok" ? "&#10003;" : "!"}</div><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;
}

export function successPage(provider: string | null, connectionId: string): string {
  const name = provider ? provider.replace(/_/g, " ") : "your payroll provider";
  return page(
    "Connected",
    "ok",
    `<p id="result" data-connection-id="${escapeHtml(connectionId)}">Your <strong id="provider">${escapeHtml(name)}</strong> account is now connected. You can close this window.</p>`,
  );
}

export function errorPage(code: string, message: string, requestId: string): string {
  return page(
    "Connection not completed",
    "err",
    `<p>${escapeHtml(message)}</p><dl><dt>Error</dt><dd><code id="error-code">${escapeHtml(code)}</code></dd><dt>Reference</dt><dd><code id="reference">${escapeHtml(requestId)}</code></dd></dl><p class="hint">Please go back to the app and try again. If it keeps happening, share the reference above with support.</p>`,
  );
}
