//! Typed payloads of the AlertChanges feeds, chosen by event type.
//!
//! The table below is the spec's `x-biq-event-payloads` (a test keeps them equal). All payload
//! shapes are inferred from BiQ's demo code (see `specs/README.md`), so decoding is tolerant:
//! anything that does not fit stays available as raw JSON.

use serde_json::{Map, Value};

use super::types;

macro_rules! event_payloads {
    ($($variant:ident($ty:ident) = [$($event:literal),+ $(,)?];)+) => {
        /// A feed item's payload, typed by its event type.
        #[derive(Debug, Clone, PartialEq)]
        pub enum EventPayload {
            $($variant(types::$ty),)+
            /// An event type not in [`EVENT_PAYLOADS`], or a payload that does not decode as
            /// the type's schema: the event type and the payload exactly as received.
            Unknown {
                event_type: String,
                payload: Map<String, Value>,
            },
        }

        /// Every known event type and the payload schema it carries (as in the spec).
        pub const EVENT_PAYLOADS: &[(&str, &str)] = &[
            $($(($event, stringify!($ty)),)+)+
        ];

        impl EventPayload {
            /// Types `payload` by `event_type`. Never fails: see [`EventPayload::Unknown`].
            pub fn decode(event_type: &str, payload: &Map<String, Value>) -> Self {
                let inner = unwrap_container(payload);
                let typed = match event_type {
                    $($($event)|+ => serde_json::from_value::<types::$ty>(inner)
                        .ok()
                        .map(EventPayload::$variant),)+
                    _ => None,
                };
                typed.unwrap_or_else(|| EventPayload::Unknown {
                    event_type: event_type.to_string(),
                    payload: payload.clone(),
                })
            }
        }
    };
}

event_payloads! {
    CreatePerson(CreatePersonPayload) = ["new-person"];
    CreateCompany(CreateCompanyPayload) = ["new-company"];
    NameChange(NameChangePayload) = [
        "name-change", "name-change-at-subscription-start",
        "name-correction", "name-correction-at-subscription-start",
    ];
    AddressChange(AddressChangePayload) = [
        "address-change", "address-change-at-subscription-start",
        "address-change-before-subscription-start", "address-correction",
        "address-correction-at-subscription-start", "address-correction-before-subscription-start",
    ];
    NameAndAddressChange(NameAndAddressChangePayload) = [
        "name-and-address-change", "name-and-address-correction",
    ];
    CareOfChange(CareOfChangePayload) = ["care-of-change"];
    AttentionChange(AttentionChangePayload) = ["attention-change", "attention-at-subscription-start"];
    CprNumberChange(CprNumberChangePayload) = ["cpr-number-change"];
    CvrNumberChange(CvrNumberChangePayload) = ["cvr-number-change"];
    PNumberChange(PNumberChangePayload) = ["p-number-change"];
    EmailChange(EmailChangePayload) = ["email-change"];
    PhoneChange(PhoneChangePayload) = ["phone-change"];
    Phone2Change(Phone2ChangePayload) = ["phone-2-change"];
    SecondaryContactChange(SecondaryContactChangePayload) = [
        "secondary-contact-name-change", "secondary-contact-email-change",
        "secondary-contact-cpr-number-change", "secondary-contact-phone-change",
        "secondary-contact-phone-2-change",
    ];
    PoBoxChange(PoBoxChangePayload) = ["po-box-change"];
    ExtraDataChange(ExtraDataChangePayload) = ["extra-data-change"];
    CustomerCategoryChange(CustomerCategoryChangePayload) = ["customer-category-change"];
    PersonDeceased(PersonDeceasedPayload) = ["person-deceased"];
    PersonFormerlyDeceased(PersonFormerlyDeceasedPayload) = ["person-formerly-deceased"];
}

/// BiQ wraps a payload in a single-member container, `{"<name>": {...}}`, whose key is not
/// documented: take the one inner object when that is the shape, else the payload itself.
fn unwrap_container(payload: &Map<String, Value>) -> Value {
    match payload.iter().next() {
        Some((_, inner @ Value::Object(_))) if payload.len() == 1 => inner.clone(),
        _ => Value::Object(payload.clone()),
    }
}

/// Feed items whose payload can be typed.
pub trait TypedPayload {
    /// The payload typed by the item's event type (never fails; see [`EventPayload`]).
    fn typed_payload(&self) -> EventPayload;
}

impl TypedPayload for types::ApprovedChange {
    fn typed_payload(&self) -> EventPayload {
        EventPayload::decode(self.event_type.as_deref().unwrap_or(""), &self.payload)
    }
}

impl TypedPayload for types::Notification {
    fn typed_payload(&self) -> EventPayload {
        EventPayload::decode(self.event_type.as_deref().unwrap_or(""), &self.payload)
    }
}
