/**
 * Test-only secrets, bound into the Workers pool by vitest.config.ts. Generated values
 * are not needed: what matters is that tests can find them in logs and responses.
 */
export const TEST_SECRETS = {
  FINCH_CLIENT_ID: "5e4f3a2b-1c0d-4e9f-8a7b-6c5d4e3f2a1b",
  FINCH_CLIENT_SECRET: "finch-secret-Qm9vYmFyYmF6cXV4cXV1eA",
  TICKET_SECRET: "ticket-secret-0123456789abcdefghijklmnopqrstuv",
  // kid "k2" is the active key; "k1" is an older key kept for decryption.
  ENCRYPTION_KEYS: "k2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,k1:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
  API_KEYS: "fce_test_key_current_0123456789abcdef,fce_test_key_previous_0123456789abcdef",
  WEBHOOK_SECRETS: "d2ViaG9vay1zZWNyZXQtY3VycmVudC0wMTIzNDU2Nzg5",
} as const;

export const TEST_VARS = {
  FINCH_API_BASE_URL: "https://api.tryfinch.com",
  FINCH_REDIRECT_URI: "https://connect.example.com/callback",
  FINCH_PRODUCTS: "company,directory",
  ALLOWED_RETURN_ORIGINS: "https://app.example.com",
  FINCH_TIMEOUT_MS: "2000",
  // The rate budget stays on (its default) so every proxy test goes through it, with limits no
  // test reaches; test/rate-budget/budget.test.ts uses Finch's real ones under its own client id.
  FINCH_RATE_LIMITS:
    "company=100000,directory=100000,individual=100000,employment=100000,payment=100000,pay-statement=100000",
} as const;

export const WORKER_ORIGIN = "https://connect.example.com";
export const CONNECT_ORIGIN = "https://connect.tryfinch.com";
