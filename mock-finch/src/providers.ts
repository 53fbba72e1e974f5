// The payroll providers the mock knows (a few of Finch's sandbox provider ids). A connection
// gets one entity per company the provider covers: `finch_multi_entity` covers two.

export interface MockProvider {
  name: string;
  entities: number;
}

export const PROVIDERS: Readonly<Record<string, MockProvider>> = {
  gusto: { name: "Gusto", entities: 1 },
  adp_run: { name: "ADP Run", entities: 1 },
  bamboo_hr: { name: "BambooHR", entities: 1 },
  justworks: { name: "Justworks", entities: 1 },
  paychex_flex: { name: "Paychex Flex", entities: 1 },
  paylocity: { name: "Paylocity", entities: 1 },
  rippling: { name: "Rippling", entities: 1 },
  workday: { name: "Workday", entities: 1 },
  finch_multi_entity: { name: "Finch multi-entity", entities: 2 },
};

/** The provider Connect uses when the session names none and the employer picks none. */
export const DEFAULT_PROVIDER = "gusto";
export const MULTI_ENTITY_PROVIDER = "finch_multi_entity";

export function isProvider(id: unknown): id is string {
  return typeof id === "string" && Object.hasOwn(PROVIDERS, id);
}
