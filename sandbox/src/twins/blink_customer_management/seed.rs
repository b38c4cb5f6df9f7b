//! The bLink twin's seeded book of customers, built from the synthetic population
//! ([`crate::synthetic`]) with the generated types: per customer its persons (natural persons,
//! and a legal person for company customers), a KYC record and a domicile address; per person
//! its contact details. Same seed, same book.
//!
//! Shapes (all inferred, the sources give none): every ninth customer is a joint account of two
//! natural persons, every ninth (offset 7) has an authorised representative who is the account
//! owner of the customer before it (so some persons hold two customers), and every ninth
//! (offset 8) is a company (legal person) with a natural person as beneficial owner. Customers
//! 13 and 14 of every 15 are `inactive` and `closed`.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::Datelike;
use customer_data::blink_customer_management::types;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Map;

use crate::synthetic::{Person as Someone, population};

/// How many customers the twin holds (three pages at the default limit).
pub(super) const CUSTOMERS: usize = 45;

/// First ids of each kind; ids are 8 digits, so their text order is their numeric order.
const FIRST_CUSTOMER: u64 = 10_000_001;
const FIRST_PERSON: u64 = 20_000_001;
pub(super) const FIRST_ADDRESS: u64 = 30_000_001;
pub(super) const FIRST_CONTACT: u64 = 40_000_001;

/// A customer as stored; `customer.address_list` is derived from `addresses` on every read.
pub(super) struct CustomerRecord {
    pub customer: types::Customer,
    pub kyc: types::Kyc,
    pub addresses: Vec<types::Address>,
}

/// A person as stored; `person.contact_information` is derived from `contacts` on every read.
pub(super) struct PersonRecord {
    pub person: types::Person,
    pub contacts: Vec<types::ContactDetails>,
}

/// The seeded book and the next free ids.
pub(super) struct Book {
    pub customers: BTreeMap<String, CustomerRecord>,
    pub persons: BTreeMap<String, PersonRecord>,
    pub next_address: u64,
    pub next_contact: u64,
}

impl Book {
    pub fn new_address_id(&mut self) -> u64 {
        let id = self.next_address;
        self.next_address += 1;
        id
    }

    pub fn new_contact_id(&mut self) -> u64 {
        let id = self.next_contact;
        self.next_contact += 1;
        id
    }
}

/// What differs per market: currency, correspondence language, company legal form and suffix.
struct Market {
    currency: &'static str,
    language: &'static str,
    legal_form: &'static str,
    company_suffix: &'static str,
    /// Amounts in this currency are this many times the EUR-like base amounts.
    scale: u64,
}

fn market(someone: &Someone) -> Market {
    match someone.market {
        "SE" => Market {
            currency: "SEK",
            language: "Swedish",
            legal_form: "Aktiebolag",
            company_suffix: "AB",
            scale: 10,
        },
        "NO" => Market {
            currency: "NOK",
            language: "Norwegian",
            legal_form: "Aksjeselskap",
            company_suffix: "AS",
            scale: 10,
        },
        "DK" => Market {
            currency: "DKK",
            language: "Danish",
            legal_form: "Anpartsselskab",
            company_suffix: "ApS",
            scale: 7,
        },
        "FI" => Market {
            currency: "EUR",
            language: "Finnish",
            legal_form: "Osakeyhtiö",
            company_suffix: "Oy",
            scale: 1,
        },
        _ if someone.city == "Genève" => Market {
            currency: "CHF",
            language: "French",
            legal_form: "Société anonyme",
            company_suffix: "SA",
            scale: 1,
        },
        _ => Market {
            currency: "CHF",
            language: "German",
            legal_form: "Aktiengesellschaft",
            company_suffix: "AG",
            scale: 1,
        },
    }
}

const PROFESSIONS: &[&str] = &[
    "Engineer",
    "Teacher",
    "Nurse",
    "Architect",
    "Software developer",
    "Accountant",
    "Physician",
    "Electrician",
];
const EMPLOYERS: &[&str] = &[
    "Nordlys Engineering",
    "Alpine Instruments",
    "Baltic Freight",
    "Lakeside Clinic",
    "Tundra Software",
];
const SECTORS: &[&str] = &[
    "Shipping",
    "Software",
    "Retail",
    "Engineering",
    "Hospitality",
];
const PRIOR_BANKS: &[&str] = &[
    "Fjordside Savings Bank",
    "Alpine Cantonal Sandbox Bank",
    "Northern Lights Bank",
];

/// A constrained generated value from text (`None` if it does not fit its schema).
fn fit<T: FromStr>(value: &str) -> Option<T> {
    value.parse().ok()
}

fn date(rng: &mut ChaCha8Rng, years: std::ops::Range<i32>) -> Option<types::Date> {
    chrono::NaiveDate::from_ymd_opt(
        rng.random_range(years),
        rng.random_range(1..=12),
        rng.random_range(1..=28),
    )
    .map(types::Date)
}

fn amount<T: FromStr>(rng: &mut ChaCha8Rng, range: std::ops::Range<u64>, scale: u64) -> Option<T> {
    fit(&(rng.random_range(range) * 100 * scale).to_string())
}

fn currency_amount(
    rng: &mut ChaCha8Rng,
    m: &Market,
    range: std::ops::Range<u64>,
) -> types::CurrencyAmount {
    types::CurrencyAmount {
        amount: amount(rng, range, m.scale),
        currency: fit(m.currency),
        extra: Map::new(),
    }
}

/// `personDetails`: the person type plus the members of its schema (naturalPerson,
/// legalPerson ...), which the generated `PersonDetails` keeps as extra members.
fn details_of<T: serde::Serialize>(
    person_type: types::PersonType,
    details: &T,
) -> Option<types::PersonDetails> {
    let serde_json::Value::Object(mut members) = serde_json::to_value(details).ok()? else {
        return None;
    };
    members.remove("personType");
    Some(types::PersonDetails {
        person_type,
        extra: members,
    })
}

fn customer_refs(customer_id: &str) -> Vec<types::PersonCustomerReference> {
    vec![types::PersonCustomerReference {
        customer_identification: fit(customer_id),
        extra: Map::new(),
    }]
}

fn contact(
    id: u64,
    medium: types::ContactMedium,
    kind: types::ContactMediumType,
    content: &str,
    info: Option<&str>,
) -> Option<types::ContactDetails> {
    Some(types::ContactDetails {
        additional_contact_information: info.and_then(fit),
        contact_content: fit(content)?,
        contact_identification: fit(&id.to_string()),
        contact_medium_type: Some(kind),
        medium,
        extra: Map::new(),
    })
}

struct Seeder {
    rng: ChaCha8Rng,
    book: Book,
    next_person: u64,
}

impl Seeder {
    fn person_id(&mut self) -> String {
        let id = self.next_person;
        self.next_person += 1;
        id.to_string()
    }

    fn natural_person(&mut self, someone: &Someone, customer_id: &str) -> Option<String> {
        let id = self.person_id();
        let m = market(someone);
        let civil_status = [
            types::CivilStatus::Unmarried,
            types::CivilStatus::Married,
            types::CivilStatus::Divorced,
            types::CivilStatus::Widowed,
        ][self.rng.random_range(0..4)]
        .clone();
        let details = types::NaturalPerson {
            civil_status: Some(civil_status),
            dates: vec![types::NaturalPersonDate {
                date: Some(types::Date(someone.birth_date)),
                date_type: Some(types::DateType::BirthDate),
                extra: Map::new(),
            }],
            gender: None,
            given_name: fit(&someone.first_name),
            last_name: fit(&someone.family_name),
            middle_name: None,
            nationality: fit(someone.market).into_iter().collect(),
            person_type: types::PersonType::NaturalPerson,
            tin: fit(&someone.legal_id),
            title: None,
            extra: Map::new(),
        };
        let person = types::Person {
            contact_information: Vec::new(),
            country_of_domicile: fit(someone.market),
            customer_list: customer_refs(customer_id),
            external_reference: fit(&format!("P-{:05}", someone.index)),
            full_name: fit(&someone.full_name()),
            language: fit(m.language),
            person_details: details_of(types::PersonType::NaturalPerson, &details)?,
            person_identification: fit(&id)?,
            tax_domicile: fit(someone.market).into_iter().collect(),
            extra: Map::new(),
        };
        let email_id = self.book.new_contact_id();
        let phone_id = self.book.new_contact_id();
        let contacts = vec![
            contact(
                email_id,
                types::ContactMedium::Email,
                types::ContactMediumType::Private,
                &someone.email,
                None,
            )?,
            contact(
                phone_id,
                types::ContactMedium::Phone,
                types::ContactMediumType::Private,
                &someone.phone,
                Some("Mobile"),
            )?,
        ];
        self.book
            .persons
            .insert(id.clone(), PersonRecord { person, contacts });
        Some(id)
    }

    fn legal_person(
        &mut self,
        company: &str,
        someone: &Someone,
        customer_id: &str,
    ) -> Option<String> {
        let id = self.person_id();
        let m = market(someone);
        let details = types::LegalPerson {
            domicilary_company: false,
            legal_form: fit(m.legal_form)?,
            lei: None,
            organisation_name: fit(company)?,
            person_type: types::PersonType::LegalPerson,
            extra: Map::new(),
        };
        let person = types::Person {
            contact_information: Vec::new(),
            country_of_domicile: fit(someone.market),
            customer_list: customer_refs(customer_id),
            external_reference: fit(&format!("L-{:05}", someone.index)),
            full_name: fit(company),
            language: fit(m.language),
            person_details: details_of(types::PersonType::LegalPerson, &details)?,
            person_identification: fit(&id)?,
            tax_domicile: fit(someone.market).into_iter().collect(),
            extra: Map::new(),
        };
        let mail_name: String = someone
            .family_name
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { 'x' })
            .collect();
        let email_id = self.book.new_contact_id();
        let contacts = vec![contact(
            email_id,
            types::ContactMedium::Email,
            types::ContactMediumType::Business,
            &format!("office@{mail_name}-{}.example.invalid", someone.index),
            Some("Main office"),
        )?];
        self.book
            .persons
            .insert(id.clone(), PersonRecord { person, contacts });
        Some(id)
    }

    /// Adds `customer_id` to the customer list of an existing person.
    fn add_customer_to(&mut self, person_id: &str, customer_id: &str) {
        if let Some(record) = self.book.persons.get_mut(person_id) {
            record
                .person
                .customer_list
                .extend(customer_refs(customer_id));
        }
    }

    fn domicile_address(
        &mut self,
        someone: &Someone,
        company: Option<&str>,
    ) -> Option<types::Address> {
        let m = market(someone);
        let name = types::PostalAddressName {
            given_name: company
                .is_none()
                .then(|| fit(&someone.first_name))
                .flatten(),
            last_name: company
                .is_none()
                .then(|| fit(&someone.family_name))
                .flatten(),
            middle_name: None,
            name_suffix: None,
            organisation_name: company.and_then(fit),
            extra: Map::new(),
        };
        let physical = types::PhysicalAddress {
            address_suffix: None,
            building_number: fit(&someone.street_number.to_string()),
            care_of: None,
            country: fit(someone.market),
            country_sub_division: None,
            post_box: None,
            post_code: fit(&someone.postal_code),
            street_name: fit(&someone.street),
            to_the_attention_of: None,
            town_name: fit(&someone.city),
            extra: Map::new(),
        };
        let id = self.book.new_address_id();
        Some(types::Address {
            address_identification: id as f64,
            address_name: fit(if company.is_some() {
                "Registered office"
            } else {
                "Home"
            }),
            dispatch_type: types::DispatchType::Postal,
            is_domicile: Some(true),
            is_mailing_address: Some(true),
            language: fit(m.language),
            mailing_instruction: None,
            postal_address: Some(types::PostalAddress {
                name: Some(name),
                physical_address: Some(physical),
                salutation: None,
                extra: Map::new(),
            }),
            extra: Map::new(),
        })
    }

    fn private_kyc(&mut self, someone: &Someone) -> types::Kyc {
        let m = market(someone);
        let rng = &mut self.rng;
        let retired = someone.birth_date.year() < 1960;
        let employment = if retired {
            types::TypeOfEmployment::Retired
        } else if rng.random_range(0..5) == 0 {
            types::TypeOfEmployment::SelfEmployed
        } else {
            types::TypeOfEmployment::Employed
        };
        let employer = (employment == types::TypeOfEmployment::Employed)
            .then(|| fit(EMPLOYERS[rng.random_range(0..EMPLOYERS.len())]))
            .flatten();
        let inherited = rng.random_range(0..3) == 0;
        types::Kyc {
            non_financial_situation: Some(types::KycNonFinancialSituation {
                beneficial_owner: None,
                beneficiary: None,
                company_purpose: None,
                date_of_incorporation: None,
                date_of_trust_contract: None,
                education_level: fit(["Secondary school", "University"][rng.random_range(0..2)]),
                employing_company: employer,
                function: None,
                merged: None,
                number_of_employees: None,
                profession: if retired {
                    None
                } else {
                    fit(PROFESSIONS[rng.random_range(0..PROFESSIONS.len())])
                },
                protector: None,
                reason_for_domiciliary_company: None,
                reason_for_trust: None,
                resettled: None,
                revocability: None,
                risk_domicile: fit(someone.market),
                sector: None,
                structure_beneficial_owners: None,
                structure_controlling_person: None,
                type_of_employment: Some(employment),
                extra: Map::new(),
            }),
            financial_situation: Some(types::KycFinancialSituation {
                annual_turnover: None,
                income_current_period: Some(currency_amount(rng, &m, 300..2_500)),
                monetary_wealth: Some(currency_amount(rng, &m, 100..20_000)),
                prior_bank: Some(types::PriorBank {
                    domicile_prior_bank: fit(someone.market),
                    name_prior_bank: fit(PRIOR_BANKS[rng.random_range(0..PRIOR_BANKS.len())]),
                    extra: Map::new(),
                }),
                source_of_income: Some(if retired {
                    types::SourceOfIncome::PensionFunds
                } else {
                    types::SourceOfIncome::Income
                }),
                source_of_wealth: vec![types::SourceOfWealthEntry {
                    amount: amount(rng, 50..5_000, m.scale),
                    currency: fit(m.currency),
                    date_of_receipt: date(rng, 1995..2024),
                    originator: None,
                    source_of_wealth: Some(if inherited {
                        types::SourceOfWealthType::Inheritance
                    } else {
                        types::SourceOfWealthType::Savings
                    }),
                    extra: Map::new(),
                }],
                extra: Map::new(),
            }),
            extra: Map::new(),
        }
    }

    fn company_kyc(&mut self, someone: &Someone, owner_name: &str) -> types::Kyc {
        let m = market(someone);
        let rng = &mut self.rng;
        let sector = SECTORS[rng.random_range(0..SECTORS.len())];
        types::Kyc {
            non_financial_situation: Some(types::KycNonFinancialSituation {
                beneficial_owner: fit(owner_name),
                beneficiary: None,
                company_purpose: fit(&format!("{sector} services")),
                date_of_incorporation: date(rng, 1980..2022),
                date_of_trust_contract: None,
                education_level: None,
                employing_company: None,
                function: None,
                merged: Some(false),
                number_of_employees: Some(rng.random_range(2..500)),
                profession: None,
                protector: None,
                reason_for_domiciliary_company: None,
                reason_for_trust: None,
                resettled: Some(false),
                revocability: None,
                risk_domicile: fit(someone.market),
                sector: fit(sector),
                structure_beneficial_owners: fit(&format!("{owner_name} (100%)")),
                structure_controlling_person: fit(&format!("{owner_name} (100%)")),
                type_of_employment: None,
                extra: Map::new(),
            }),
            financial_situation: Some(types::KycFinancialSituation {
                annual_turnover: Some(currency_amount(rng, &m, 2_000..500_000)),
                income_current_period: None,
                monetary_wealth: Some(currency_amount(rng, &m, 500..100_000)),
                prior_bank: None,
                source_of_income: None,
                source_of_wealth: Vec::new(),
                extra: Map::new(),
            }),
            extra: Map::new(),
        }
    }

    /// Customer `index` with its persons, KYC and address; `None` only if a synthetic value
    /// did not fit its schema (the unit test below makes sure none does).
    fn customer(
        &mut self,
        index: usize,
        people: &mut impl Iterator<Item = Someone>,
        previous_owner: &mut Option<String>,
    ) -> Option<()> {
        use types::PersonRelation as R;
        let customer_id = (FIRST_CUSTOMER + index as u64).to_string();
        let owner = people.next()?;
        let m = market(&owner);
        let mut persons: Vec<(String, R)> = Vec::new();
        let (name, kyc, address) = match index % 9 {
            8 => {
                let company = format!("{} {}", owner.family_name, m.company_suffix);
                let company_id = self.legal_person(&company, &owner, &customer_id)?;
                let beneficial_owner = self.natural_person(&owner, &customer_id)?;
                persons.push((company_id, R::AccountOwner));
                persons.push((beneficial_owner, R::BeneficialOwner));
                let kyc = self.company_kyc(&owner, &owner.full_name());
                let address = self.domicile_address(&owner, Some(&company))?;
                (company, kyc, address)
            }
            kind => {
                let owner_id = self.natural_person(&owner, &customer_id)?;
                persons.push((owner_id.clone(), R::AccountOwner));
                let mut name = owner.full_name();
                if kind == 6 {
                    let partner = people.next()?;
                    name = format!("{name} and {}", partner.full_name());
                    persons.push((
                        self.natural_person(&partner, &customer_id)?,
                        R::AccountOwner,
                    ));
                } else if kind == 7
                    && let Some(representative) = previous_owner.clone()
                {
                    self.add_customer_to(&representative, &customer_id);
                    persons.push((representative, R::AuthorisedRepresentative));
                }
                *previous_owner = Some(owner_id);
                let kyc = self.private_kyc(&owner);
                let address = self.domicile_address(&owner, None)?;
                (name, kyc, address)
            }
        };
        let status = match index % 15 {
            13 => types::CustomerStatus::Inactive,
            14 => types::CustomerStatus::Closed,
            _ => types::CustomerStatus::Active,
        };
        let customer = types::Customer {
            address_list: Vec::new(),
            customer_identification: fit(&customer_id)?,
            external_reference: fit(&format!("SBX-{:06}", index + 1)),
            name: fit(&name),
            opening_date: date(&mut self.rng, 2000..2025),
            person_list: persons
                .into_iter()
                .map(|(id, relation)| types::CustomerPersonReference {
                    person_identification: fit(&id),
                    person_relation: Some(relation),
                    extra: Map::new(),
                })
                .collect(),
            reference_currency: fit(m.currency),
            status,
            extra: Map::new(),
        };
        self.book.customers.insert(
            customer_id,
            CustomerRecord {
                customer,
                kyc,
                addresses: vec![address],
            },
        );
        Some(())
    }
}

/// The seeded book for `seed`.
pub(super) fn book(seed: u64) -> Book {
    let mut seeder = Seeder {
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0xB11C_C057),
        book: Book {
            customers: BTreeMap::new(),
            persons: BTreeMap::new(),
            next_address: FIRST_ADDRESS,
            next_contact: FIRST_CONTACT,
        },
        next_person: FIRST_PERSON,
    };
    let mut people = population(seed ^ 0xB11C, CUSTOMERS * 2).into_iter();
    let mut previous_owner = None;
    for index in 0..CUSTOMERS {
        let _ = seeder.customer(index, &mut people, &mut previous_owner);
    }
    seeder.book
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_customer_is_seeded_and_every_reference_resolves() {
        let book = book(42);
        assert_eq!(book.customers.len(), CUSTOMERS);
        for (id, record) in &book.customers {
            assert_eq!(record.customer.customer_identification.as_str(), id);
            assert!(!record.customer.person_list.is_empty(), "{id}");
            assert_eq!(record.addresses.len(), 1);
            for reference in &record.customer.person_list {
                let person_id = reference.person_identification.as_ref().unwrap();
                let person = &book.persons[person_id.as_str()].person;
                assert!(
                    person.customer_list.iter().any(|c| c
                        .customer_identification
                        .as_deref()
                        .map(|s| s.as_str())
                        == Some(id.as_str())),
                    "{person_id:?} does not list {id}"
                );
            }
        }
        // Each kind of customer is there: joint, represented, company.
        let legal = book
            .persons
            .values()
            .filter(|p| p.person.person_details.person_type == types::PersonType::LegalPerson)
            .count();
        assert_eq!(legal, CUSTOMERS / 9);
        assert!(
            book.persons
                .values()
                .any(|p| p.person.customer_list.len() == 2)
        );
        assert!(book.persons.values().all(|p| !p.contacts.is_empty()));
        // The same seed gives the same book.
        let again = super::book(42);
        assert_eq!(
            serde_json::to_value(
                book.customers
                    .values()
                    .map(|c| &c.customer)
                    .collect::<Vec<_>>()
            )
            .unwrap(),
            serde_json::to_value(
                again
                    .customers
                    .values()
                    .map(|c| &c.customer)
                    .collect::<Vec<_>>()
            )
            .unwrap()
        );
    }
}
