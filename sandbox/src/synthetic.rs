//! Synthetic people, seeded: Nordic- and Swiss-looking names and addresses, no real person.
//! The same seed gives the same population in every run.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FIRST: &[&str] = &[
    "Ingrid", "Astrid", "Sigrid", "Freja", "Maja", "Elsa", "Linnea", "Aino", "Helmi", "Sanna",
    "Lars", "Erik", "Nils", "Magnus", "Anders", "Mikko", "Jukka", "Jonas", "Matteo", "Lukas",
    "Anna", "Léa", "Noah", "Elias", "Mette", "Søren", "Rasmus", "Karin", "Hanne", "Ursula",
];
const FAMILY: &[&str] = &[
    "Lindqvist",
    "Solberg",
    "Haugen",
    "Nyström",
    "Bergström",
    "Virtanen",
    "Korhonen",
    "Mäkinen",
    "Jensen",
    "Nørgaard",
    "Kristiansen",
    "Dahl",
    "Eriksson",
    "Holm",
    "Lehmann",
    "Meier",
    "Brunner",
    "Keller",
    "Favre",
    "Rochat",
    "Gerber",
    "Zürcher",
    "Halvorsen",
    "Lund",
];

/// A country's street names, cities with postal codes, and market code.
struct Country {
    market: &'static str,
    streets: &'static [&'static str],
    cities: &'static [(&'static str, &'static str)],
}

const COUNTRIES: &[Country] = &[
    Country {
        market: "SE",
        streets: &["Storgatan", "Kungsgatan", "Drottninggatan", "Sveavägen"],
        cities: &[
            ("41114", "Göteborg"),
            ("11122", "Stockholm"),
            ("21120", "Malmö"),
        ],
    },
    Country {
        market: "NO",
        streets: &[
            "Storgata",
            "Kirkegata",
            "Bygdøy allé",
            "Thorvald Meyers gate",
        ],
        cities: &[("0155", "Oslo"), ("5003", "Bergen"), ("7011", "Trondheim")],
    },
    Country {
        market: "DK",
        streets: &["Nørregade", "Vestergade", "Østerbrogade", "Strandvejen"],
        cities: &[
            ("1165", "København K"),
            ("8000", "Aarhus C"),
            ("5000", "Odense C"),
        ],
    },
    Country {
        market: "FI",
        streets: &["Mannerheimintie", "Hämeenkatu", "Aleksanterinkatu"],
        cities: &[
            ("00100", "Helsinki"),
            ("33100", "Tampere"),
            ("20100", "Turku"),
        ],
    },
    Country {
        market: "CH",
        streets: &["Bahnhofstrasse", "Rue du Rhône", "Marktgasse"],
        cities: &[("8001", "Zürich"), ("1204", "Genève"), ("3011", "Bern")],
    },
];

/// One synthetic person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Stable id within the population (`gedi-<n>` style ids are derived from it).
    pub index: usize,
    pub first_name: String,
    pub family_name: String,
    pub birth_date: chrono::NaiveDate,
    pub street: String,
    pub street_number: u32,
    pub postal_code: String,
    pub city: String,
    pub market: &'static str,
    /// A fake national id: `YYYYMMDD` + 4 digits, never a real person's number format check.
    pub legal_id: String,
    pub phone: String,
    pub email: String,
}

impl Person {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.family_name)
    }
    pub fn address_line(&self) -> String {
        format!("{} {}", self.street, self.street_number)
    }
}

/// A seeded population of `size` people.
pub fn population(seed: u64, size: usize) -> Vec<Person> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..size).map(|index| person(&mut rng, index)).collect()
}

/// Person `index` of an endless synthetic population of `seed`, drawn on its own (its own
/// ChaCha stream, no other person generated): for feeds too big to keep in memory. The same
/// `(seed, index)` gives the same person; it is not `population(seed, n)[index]`.
pub fn person_at(seed: u64, index: u64) -> Person {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    person(&mut rng, usize::try_from(index).unwrap_or(usize::MAX))
}

fn person(rng: &mut ChaCha8Rng, index: usize) -> Person {
    let first = FIRST[rng.random_range(0..FIRST.len())];
    let family = FAMILY[rng.random_range(0..FAMILY.len())];
    let country = &COUNTRIES[rng.random_range(0..COUNTRIES.len())];
    let (postal_code, city) = country.cities[rng.random_range(0..country.cities.len())];
    let birth_date = chrono::NaiveDate::from_ymd_opt(
        rng.random_range(1940..2005),
        rng.random_range(1..=12),
        rng.random_range(1..=28),
    )
    .unwrap_or_default();
    let mail_name: String = format!("{first}.{family}")
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                'x'
            }
        })
        .collect();
    Person {
        index,
        first_name: first.to_string(),
        family_name: family.to_string(),
        birth_date,
        street: country.streets[rng.random_range(0..country.streets.len())].to_string(),
        street_number: rng.random_range(1..120),
        postal_code: postal_code.to_string(),
        city: city.to_string(),
        market: country.market,
        legal_id: format!(
            "{}{:04}",
            birth_date.format("%Y%m%d"),
            rng.random_range(0..10_000)
        ),
        phone: format!("+4670{:07}", rng.random_range(0..10_000_000)),
        email: format!("{mail_name}{index}@example.invalid"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_people() {
        assert_eq!(population(1, 50), population(1, 50));
        assert_ne!(population(1, 50), population(2, 50));
        let people = population(3, 200);
        assert!(people.iter().all(|p| p.email.ends_with("@example.invalid")));
        assert!(people.iter().any(|p| p.market == "CH") && people.iter().any(|p| p.market == "SE"));
    }

    #[test]
    fn a_person_at_a_position_is_drawn_alone_and_always_the_same() {
        assert_eq!(person_at(7, 999_999), person_at(7, 999_999));
        assert_ne!(person_at(7, 1).legal_id, person_at(7, 2).legal_id);
        assert_eq!(person_at(7, 123).index, 123);
        assert!(person_at(7, 5).email.ends_with("5@example.invalid"));
    }
}
