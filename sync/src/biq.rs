//! BiQ approved changes onto our [`Customer`] table, exactly as BiQ's demo change reader maps
//! them. Source of every mapping: `ChangeReader/Program.cs` (`HandleOneChange`,
//! `MapCustomerCategory`) of github.com/BiQ/AlertIntegrationDemo at revision
//! b70a67a552d5eedcd3abcf1292911fadd1e5af3c; the table is in `sync/README.md`.
//!
//! Where we deliberately differ from the demo (each for determinism or exactly-once):
//! - a new row's customer number is the change id (the demo draws a fresh random GUID, which a
//!   replay would duplicate);
//! - `changed_at` is the change's `approved` time (the demo sets it, then its database layer
//!   overwrites it with the local clock);
//! - a payload that does not decode as its DTO is logged as not applied (the demo throws and
//!   retries the same change forever);
//! - extra data merges every proposed member (the demo copies two configured member names).

use std::collections::BTreeMap;

use customer_data::biq_alert_changes::EventPayload;
use customer_data::biq_alert_changes::types::{Address, ApprovedChange};

use crate::{ChangeMapping, ChangeOutcome, ChangeRef, Column, Customer, CustomerTable, StoreError};

/// The change log's `source` for BiQ approved changes.
pub const SOURCE: &str = "biq";

/// The flow name of the BiQ change reader (its cursor is the last change's `committed`).
pub const CHANGE_READER_FLOW: &str = "biq-change-reader";

/// One column change on an existing row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnChange {
    /// Set a text column (`None`: clear it, as the demo does when the proposed value is null).
    Set(Column, Option<String>),
    /// Set these extra-data members (others are kept).
    MergeExtraData(BTreeMap<String, String>),
}

/// What one approved change does to the customer table (the pure result of [`map_change`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowChange {
    /// `new-person` / `new-company`: insert this row.
    Create(Box<Customer>),
    /// Change these columns of this customer's row (if it still exists).
    Update {
        /// The customer to change.
        customer_number: String,
        /// The changes, in order.
        changes: Vec<ColumnChange>,
    },
    /// A known change that changes no column (with the reason for the log).
    NotApplied {
        /// Why.
        reason: String,
    },
    /// An event type the demo does not know: recorded, not applied, reported.
    Unknown {
        /// The event type as received.
        event_type: String,
    },
}

impl RowChange {
    /// Applies the column changes of an [`RowChange::Update`] to `customer`.
    pub fn apply_to(changes: &[ColumnChange], customer: &mut Customer) {
        for change in changes {
            match change {
                ColumnChange::Set(column, value) => customer.set(*column, value.clone()),
                ColumnChange::MergeExtraData(members) => customer
                    .extra_data
                    .extend(members.iter().map(|(k, v)| (k.clone(), v.clone()))),
            }
        }
    }
}

/// The demo's `MapCustomerCategory`: the shadow's category text onto the local one.
fn local_category(proposed: Option<&str>) -> Option<String> {
    proposed.map(|text| match text {
        "Residential" => "privat".to_string(),
        "Enterprise" => "erhverv".to_string(),
        other => other.to_string(),
    })
}

fn address_columns(address: Option<&Address>) -> Vec<ColumnChange> {
    let member = |pick: fn(&Address) -> Option<String>| address.and_then(pick);
    vec![
        ColumnChange::Set(
            Column::AddressComposite,
            member(|a| a.composite_orig.clone()),
        ),
        ColumnChange::Set(Column::Street, member(|a| a.street.clone())),
        ColumnChange::Set(Column::StreetCode, member(|a| a.street_code.clone())),
        ColumnChange::Set(Column::HouseNumber, member(|a| a.house_number.clone())),
        ColumnChange::Set(Column::HouseLetter, member(|a| a.house_letter.clone())),
        ColumnChange::Set(Column::Floor, member(|a| a.floor.clone())),
        ColumnChange::Set(Column::Suite, member(|a| a.suite.clone())),
        ColumnChange::Set(Column::PostalCode, member(|a| a.postal_code.clone())),
        ColumnChange::Set(Column::PostalCity, member(|a| a.postal_city.clone())),
        ColumnChange::Set(Column::PostalSubCity, member(|a| a.postal_sub_city.clone())),
        ColumnChange::Set(
            Column::MunicipalityCode,
            member(|a| a.municipality_code.clone()),
        ),
        ColumnChange::Set(Column::CountryName, member(|a| a.country_name.clone())),
        ColumnChange::Set(Column::CountryCode, member(|a| a.country_code.clone())),
        ColumnChange::Set(
            Column::DarAddressId,
            member(|a| a.dar_address_id.map(|id| id.to_string())),
        ),
    ]
}

fn extra_data(map: Option<&std::collections::HashMap<String, String>>) -> BTreeMap<String, String> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Maps one approved change to what it does to the customer table, as the demo's change reader
/// does (module docs: source and deliberate differences). Pure: reads nothing else.
pub fn map_change(change: &ApprovedChange) -> RowChange {
    let event_type = change.event_type.as_deref().unwrap_or("");
    let change_id = change.id.map(|id| id.to_string());
    let approved = change.approved.map(|t| t.to_rfc3339());
    let payload = EventPayload::decode(event_type, change.payload.as_ref());
    let set = |column: Column, value: Option<&String>| ColumnChange::Set(column, value.cloned());
    // Demo: an absent payload reads every member as null (`payload?.Member`), so the update
    // still happens and clears the mapped columns.
    let mut columns = match (event_type, &payload) {
        ("new-person" | "new-company", _) => {
            return create_row(change, change_id, approved, &payload);
        }
        (_, EventPayload::Unknown { event_type, .. }) => {
            return RowChange::Unknown {
                event_type: event_type.clone(),
            };
        }
        (_, EventPayload::Undecodable { error, .. }) => {
            return RowChange::NotApplied {
                reason: format!("payload does not decode: {error}"),
            };
        }
        (_, EventPayload::NotAnObject(_)) => {
            return RowChange::NotApplied {
                reason: "payload is not an object".to_string(),
            };
        }
        (
            "name-change"
            | "name-change-at-subscription-start"
            | "name-correction"
            | "name-correction-at-subscription-start",
            _,
        ) => match &payload {
            EventPayload::NameChange(p) => vec![set(Column::Name, p.proposed_name.as_ref())],
            _ => vec![set(Column::Name, None)],
        },
        (
            "address-change"
            | "address-change-at-subscription-start"
            | "address-correction"
            | "address-correction-at-subscription-start"
            | "address-correction-before-subscription-start",
            _,
        ) => match &payload {
            EventPayload::AddressChange(p) => address_columns(p.proposed_address.as_ref()),
            _ => address_columns(None),
        },
        (
            "name-and-address-change"
            | "name-and-address-change-at-subscription-start"
            | "name-and-address-correction"
            | "name-and-address-correction-at-subscription-start",
            _,
        ) => {
            let (name, address) = match &payload {
                EventPayload::NameAndAddressChange(p) => {
                    (p.proposed_name.as_ref(), p.proposed_address.as_ref())
                }
                _ => (None, None),
            };
            let mut columns = vec![set(Column::Name, name)];
            columns.extend(address_columns(address));
            columns
        }
        ("care-of-change" | "care-of-change-at-subscription-start", _) => match &payload {
            EventPayload::CareOfChange(p) => vec![set(Column::CareOf, p.proposed_care_of.as_ref())],
            _ => vec![set(Column::CareOf, None)],
        },
        ("attention-change" | "attention-at-subscription-start", _) => match &payload {
            EventPayload::AttentionChange(p) => {
                vec![set(Column::Attention, p.proposed_attention.as_ref())]
            }
            _ => vec![set(Column::Attention, None)],
        },
        ("cpr-number-change" | "secondary-contact-cpr-number-change", _) => {
            let column = if event_type == "cpr-number-change" {
                Column::Cpr
            } else {
                Column::SecondaryCpr
            };
            match &payload {
                EventPayload::CprNumberChange(p) => {
                    vec![set(column, p.proposed_cpr_number.as_ref())]
                }
                _ => vec![set(column, None)],
            }
        }
        ("cvr-number-change", _) => match &payload {
            EventPayload::CvrNumberChange(p) => {
                vec![set(Column::Cvr, p.proposed_cvr_number.as_ref())]
            }
            _ => vec![set(Column::Cvr, None)],
        },
        ("p-number-change", _) => match &payload {
            EventPayload::PNumberChange(p) => {
                vec![set(Column::PNumber, p.proposed_p_number.as_ref())]
            }
            _ => vec![set(Column::PNumber, None)],
        },
        (
            "email-change"
            | "email-change-at-subscription-start"
            | "secondary-contact-email-change",
            _,
        ) => {
            let column = if event_type == "secondary-contact-email-change" {
                Column::SecondaryEmail
            } else {
                Column::Email
            };
            match &payload {
                EventPayload::EmailChange(p) => vec![set(column, p.proposed_email.as_ref())],
                _ => vec![set(column, None)],
            }
        }
        (
            "phone-change"
            | "phone-change-at-subscription-start"
            | "phone-2-change"
            | "phone-2-change-at-subscription-start"
            | "secondary-contact-phone-change"
            | "secondary-contact-phone-2-change",
            _,
        ) => {
            let column = match event_type {
                "phone-change" | "phone-change-at-subscription-start" => Column::Phone1,
                "phone-2-change" | "phone-2-change-at-subscription-start" => Column::Phone2,
                "secondary-contact-phone-change" => Column::SecondaryPhone1,
                _ => Column::SecondaryPhone2,
            };
            match &payload {
                EventPayload::PhoneNumberChange(p) => {
                    vec![set(column, p.proposed_phone_number.as_ref())]
                }
                _ => vec![set(column, None)],
            }
        }
        ("secondary-contact-name-change", _) => match &payload {
            EventPayload::NameChange(p) => {
                vec![set(Column::SecondaryName, p.proposed_name.as_ref())]
            }
            _ => vec![set(Column::SecondaryName, None)],
        },
        ("po-box-change", _) => match &payload {
            EventPayload::PoBoxChange(p) => vec![set(Column::PoBox, p.proposed_po_box.as_ref())],
            _ => vec![set(Column::PoBox, None)],
        },
        // Demo: only members present in the proposed map are copied; an absent map changes
        // no member (but the row's changed/by/latest-change columns still move).
        ("extra-data-change", _) => match &payload {
            EventPayload::ExtraDataChange(p) => {
                vec![ColumnChange::MergeExtraData(extra_data(
                    p.proposed_extra_data.as_ref(),
                ))]
            }
            _ => vec![],
        },
        ("customer-category-change", _) => match &payload {
            EventPayload::CustomerCategoryChange(p) => vec![ColumnChange::Set(
                Column::Category,
                local_category(p.proposed_customer_category.as_deref()),
            )],
            _ => vec![ColumnChange::Set(Column::Category, None)],
        },
        // Known event types (notifications such as person-deceased) that the demo's change
        // reader ignores (`default: return`, before its update).
        (other, _) => {
            return RowChange::NotApplied {
                reason: format!("the vendor's change reader changes nothing for `{other}`"),
            };
        }
    };
    let Some(customer_number) = change.customer_number.clone() else {
        return RowChange::NotApplied {
            reason: "the change names no customer".to_string(),
        };
    };
    // Demo: every handled update also sets ChangedAt, ChangedBy and the latest change id.
    columns.push(ColumnChange::Set(Column::ChangedAt, approved));
    columns.push(ColumnChange::Set(
        Column::ChangedBy,
        change.approved_by.clone(),
    ));
    columns.push(ColumnChange::Set(Column::LatestChangeId, change_id));
    RowChange::Update {
        customer_number,
        changes: columns,
    }
}

fn create_row(
    change: &ApprovedChange,
    change_id: Option<String>,
    approved: Option<String>,
    payload: &EventPayload,
) -> RowChange {
    let Some(customer_number) = change_id.clone() else {
        return RowChange::NotApplied {
            reason: "a new-customer change without an id".to_string(),
        };
    };
    let mut row = Customer {
        customer_number,
        created_by: change.approved_by.clone(),
        changed_by: change.approved_by.clone(),
        created_at: approved.clone(),
        changed_at: approved,
        latest_change_id: change_id,
        ..Customer::default()
    };
    let address = match payload {
        EventPayload::CreatePerson(p) => {
            row.category = Some("Residential".to_string());
            row.active = p.active.clone();
            row.birth_date = p.birth_date.clone();
            row.care_of = p.care_of.clone();
            row.attention = p.attention.clone();
            row.cpr = p.cpr.clone();
            row.email = p.email.clone();
            row.name = p.name.clone();
            row.phone1 = p.phone1.clone();
            row.phone2 = p.phone2.clone();
            row.po_box = p.po_box.clone();
            row.secondary_cpr = p.secondary_contact_cpr_number.clone();
            row.secondary_email = p.secondary_contact_email.clone();
            row.secondary_name = p.secondary_contact_name.clone();
            row.secondary_phone1 = p.secondary_contact_phone_number1.clone();
            row.secondary_phone2 = p.secondary_contact_phone_number2.clone();
            row.extra_data = extra_data(p.extra_data.as_ref());
            p.address.as_ref()
        }
        EventPayload::CreateCompany(p) => {
            row.category = Some("Enterprise".to_string());
            row.active = p.active.clone();
            row.care_of = p.care_of.clone();
            row.attention = p.attention.clone();
            row.cvr = p.cvr.clone();
            row.p_number = p.pnr.clone();
            row.email = p.email.clone();
            row.name = p.name.clone();
            row.phone1 = p.phone1.clone();
            row.phone2 = p.phone2.clone();
            row.po_box = p.po_box.clone();
            row.extra_data = extra_data(p.extra_data.as_ref());
            p.address.as_ref()
        }
        EventPayload::Absent => {
            // Demo: `payload?.X` is null for every member; only the category is set.
            row.category = Some(
                if change.event_type.as_deref() == Some("new-company") {
                    "Enterprise"
                } else {
                    "Residential"
                }
                .to_string(),
            );
            None
        }
        _ => {
            return RowChange::NotApplied {
                reason: "new-customer payload does not decode".to_string(),
            };
        }
    };
    RowChange::apply_to(&address_columns(address), &mut row);
    RowChange::Create(Box::new(row))
}

/// The [`ChangeMapping`] of BiQ approved changes onto our customer table ([`map_change`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct BiqTableMapping;

impl<Tx: CustomerTable + ?Sized> ChangeMapping<Tx> for BiqTableMapping {
    type Change = ApprovedChange;

    fn apply(&self, tx: &mut Tx, change: &ApprovedChange) -> Result<ChangeOutcome, StoreError> {
        match map_change(change) {
            RowChange::Create(row) => {
                tx.put_customer(&row)?;
                Ok(ChangeOutcome::Applied {
                    customer_number: row.customer_number,
                })
            }
            RowChange::Update {
                customer_number,
                changes,
            } => {
                let Some(mut row) = tx.customer(&customer_number)? else {
                    // Demo: "Received a change for a deleted customer! skipping."
                    return Ok(ChangeOutcome::NotApplied {
                        reason: "the customer is not in the table".to_string(),
                    });
                };
                RowChange::apply_to(&changes, &mut row);
                tx.put_customer(&row)?;
                Ok(ChangeOutcome::Applied { customer_number })
            }
            RowChange::NotApplied { reason } => Ok(ChangeOutcome::NotApplied { reason }),
            RowChange::Unknown { event_type } => Ok(ChangeOutcome::Unknown { event_type }),
        }
    }
}

/// The log entry and cursor of a BiQ approved change for the change-reader flow: the cursor is
/// the change's `committed` time (the demo's bookmark). A change without an id or `committed`
/// cannot be applied exactly once and is refused.
pub fn change_ref(change: &ApprovedChange) -> Result<ChangeRef, StoreError> {
    let change_id = change
        .id
        .ok_or_else(|| StoreError::InvalidChange("approved change without an id".to_string()))?;
    let committed = change.committed.ok_or_else(|| {
        StoreError::InvalidChange(format!("approved change {change_id} without `committed`"))
    })?;
    Ok(ChangeRef {
        flow: CHANGE_READER_FLOW.to_string(),
        source: SOURCE.to_string(),
        change_id: change_id.to_string(),
        event_type: change.event_type.clone(),
        cursor: committed.to_rfc3339(),
    })
}

/// Applies one BiQ approved change to `store` through `mapping`, exactly once (see
/// [`crate::Store::apply`]).
pub async fn apply_approved_change<S, M>(
    store: &S,
    mapping: M,
    change: ApprovedChange,
) -> Result<crate::Applied, StoreError>
where
    S: crate::Store,
    M: for<'t> ChangeMapping<S::Tx<'t>, Change = ApprovedChange> + Send + 'static,
{
    let key = change_ref(&change)?;
    store.apply(key, move |tx| mapping.apply(tx, &change)).await
}
