// Realistic-looking (entirely fictional) employer data in Finch's /employer/* shapes.
import { uuid } from "./http";

export interface DirectoryIndividual {
  id: string;
  first_name: string | null;
  middle_name: string | null;
  last_name: string | null;
  manager: { id: string } | null;
  department: { name: string | null } | null;
  is_active: boolean | null;
}

const PEOPLE: ReadonlyArray<[first: string, middle: string | null, last: string, dept: string, active: boolean]> = [
  ["Ada", null, "Okafor", "Executive", true],
  ["Bruno", "L.", "Tanaka", "Engineering", true],
  ["Chiara", null, "Lindqvist", "Engineering", true],
  ["Dev", null, "Raman", "Engineering", true],
  ["Elena", "M.", "Petrova", "Finance", true],
  ["Farid", null, "Haddad", "Finance", false],
  ["Grace", null, "Mwangi", "People", true],
  ["Hugo", null, "Brennan", "Sales", true],
  ["Ines", "C.", "Duarte", "Sales", true],
  ["Jonah", null, "Whitfield", "Sales", false],
  ["Keiko", null, "Sato", "Support", true],
  ["Luis", null, "Moreno", "Support", true],
];

/**
 * A directory of `size` people (default twelve) with stable names and per-connection ids;
 * everyone reports to Ada. Past twelve the names repeat with a number ("Okafor 2").
 */
export function makeDirectory(size = PEOPLE.length): DirectoryIndividual[] {
  const ids = Array.from({ length: size }, () => uuid());
  const ceo = ids[0] as string;
  return ids.map((id, i) => {
    const [first, middle, last, dept, active] = PEOPLE[i % PEOPLE.length] as (typeof PEOPLE)[number];
    const round = Math.floor(i / PEOPLE.length);
    return {
      id,
      first_name: first,
      middle_name: middle,
      last_name: round === 0 ? last : `${last} ${round + 1}`,
      manager: i === 0 ? null : { id: ceo },
      department: { name: dept },
      is_active: active,
    };
  });
}

export function makeCompany(companyId: string, customerName: string, customerId: string) {
  const slug =
    customerId
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-|-$/g, "") || "company";
  return {
    id: companyId,
    legal_name: customerName,
    entity: { type: "corporation", subtype: "c_corporation" },
    primary_email: `payroll@${slug}.example.com`,
    primary_phone_number: "+14155550100",
    ein: "12-3456789",
    departments: [
      { name: "Executive", parent: null },
      { name: "Engineering", parent: { name: "Executive" } },
      { name: "Finance", parent: { name: "Executive" } },
      { name: "People", parent: { name: "Executive" } },
      { name: "Sales", parent: { name: "Executive" } },
      { name: "Support", parent: { name: "Sales" } },
    ],
    locations: [
      {
        line1: "548 Market St",
        line2: "Suite 100",
        city: "San Francisco",
        state: "CA",
        postal_code: "94104",
        country: "US",
        name: "Headquarters",
        source_id: null,
      },
    ],
    accounts: [
      {
        account_name: "Operating",
        account_number: "000123456789",
        account_type: "checking",
        institution_name: "Mock National Bank",
        routing_number: "110000000",
      },
    ],
  };
}
