import { Validator } from "@seriousme/openapi-schema-validator";
import { expect, it } from "vitest";
import { openApiDocument } from "../../scripts/openapi";

/**
 * docs/openapi.json is generated (scripts/openapi.ts) and checked in. This fails when the
 * file is stale (run `npm run openapi`) or when the document is not valid OpenAPI 3.1.
 */
const document = openApiDocument();

it("is a valid OpenAPI 3.1 document", async () => {
  const validator = new Validator();
  const result = await validator.validate(document);
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
  expect(validator.version).toBe("3.1");
});

it("docs/openapi.json is the generated document (npm run openapi rewrites it)", async () => {
  await expect(`${JSON.stringify(document, null, 2)}\n`).toMatchFileSnapshot("../../docs/openapi.json");
});

it("the validator is not a formality: a document without info, or with a broken $ref, is refused", async () => {
  const { info: _info, ...noInfo } = document;
  expect((await new Validator().validate(noInfo)).valid).toBe(false);
  const broken = JSON.parse(
    JSON.stringify(document).replace('"#/components/schemas/Connection"', '"#/components/schemas/Nope"'),
  );
  expect((await new Validator().validate(broken)).valid).toBe(false);
});
