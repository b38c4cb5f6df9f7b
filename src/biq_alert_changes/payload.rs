//! Typed payloads of the AlertChanges feeds, chosen by event type exactly as BiQ's demo reader
//! chooses them (demo b70a67a; `specs/README.md`).
//!
//! The table below is the spec's `x-biq-event-payloads` (a test keeps them equal). A payload is
//! `null` or any JSON (the demo's `object?`); when it is an object, its FIRST member, whatever
//! its name, holds the DTO (the demo never looks at the name). The outcome says which case it
//! was, so "absent" is never confused with "not typed":
//! - a typed variant per vendor DTO (the DTOs decode tolerantly: member names in any ASCII case,
//!   `null` as absent; see `runtime::tolerant`), so a member the vendor sends is typed;
//! - [`EventPayload::Absent`]: no payload, `null`, `{}`, or a container whose first member is
//!   `null` (e.g. an anonymised item);
//! - [`EventPayload::NotAnObject`]: a payload that is neither null nor an object, or a
//!   container whose first member is not an object (kept as received);
//! - [`EventPayload::Untyped`]: an event type the demo handles without reading its payload
//!   (`person-formerly-deceased`);
//! - [`EventPayload::Unknown`]: an event type the demo does not know (kept as received);
//! - [`EventPayload::Undecodable`]: a known event type whose payload does not fit its DTO.
//!
//! Map order: the payload is held in a `serde_json::Map`, which (without serde_json's
//! `preserve_order` feature) keeps members sorted, so for a container with SEVERAL members
//! "first" is the first in that order. The vendor's containers have one member.

use serde_json::Value;

use super::types;

macro_rules! event_payloads {
    ($($variant:ident($ty:ident) = [$($event:literal),+ $(,)?];)+) => {
        /// A feed item's payload, typed by its event type (see the module docs).
        #[derive(Debug, Clone, PartialEq)]
        pub enum EventPayload {
            $($variant(types::$ty),)+
            /// No payload: absent, `null`, `{}`, or a container whose first member is `null`.
            Absent,
            /// A payload (or a container's first member) that is neither null nor an object,
            /// for a known event type: the value as received.
            NotAnObject(Value),
            /// An event type the vendor's reader handles without reading its payload.
            Untyped { event_type: String, payload: Value },
            /// An event type not in [`EVENT_PAYLOADS`]: the event type and the payload as
            /// received.
            Unknown { event_type: String, payload: Value },
            /// A known event type whose payload does not decode as its DTO: the payload as
            /// received and the decoding error.
            Undecodable {
                event_type: String,
                payload: Value,
                error: String,
            },
        }

        /// Every event type whose payload the vendor's reader types, and the DTO (as in the
        /// spec's `x-biq-event-payloads`).
        pub const EVENT_PAYLOADS: &[(&str, &str)] = &[
            $($(($event, stringify!($ty)),)+)+
        ];

        /// Decodes `inner` (a container's first member) as the DTO of `event_type`; `None`
        /// when the event type has none.
        fn typed(event_type: &str, inner: &Value) -> Option<Result<EventPayload, serde_json::Error>> {
            match event_type {
                $($($event)|+ => Some(
                    <types::$ty as serde::Deserialize>::deserialize(inner)
                        .map(EventPayload::$variant)
                ),)+
                _ => None,
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
        "secondary-contact-name-change",
    ];
    AddressChange(AddressChangePayload) = [
        "address-change", "address-change-at-subscription-start",
        "address-correction", "address-correction-at-subscription-start",
        "address-correction-before-subscription-start",
    ];
    NameAndAddressChange(NameAndAddressChangePayload) = [
        "name-and-address-change", "name-and-address-change-at-subscription-start",
        "name-and-address-correction", "name-and-address-correction-at-subscription-start",
    ];
    CareOfChange(CareOfChangePayload) = ["care-of-change", "care-of-change-at-subscription-start"];
    AttentionChange(AttentionChangePayload) = ["attention-change", "attention-at-subscription-start"];
    CprNumberChange(CprNumberChangePayload) = [
        "cpr-number-change", "secondary-contact-cpr-number-change",
    ];
    CvrNumberChange(CvrNumberChangePayload) = ["cvr-number-change"];
    PNumberChange(PNumberChangePayload) = ["p-number-change"];
    EmailChange(EmailChangePayload) = [
        "email-change", "email-change-at-subscription-start", "secondary-contact-email-change",
    ];
    PhoneNumberChange(PhoneNumberChangePayload) = [
        "phone-change", "phone-change-at-subscription-start",
        "phone-2-change", "phone-2-change-at-subscription-start",
        "secondary-contact-phone-change", "secondary-contact-phone-2-change",
    ];
    PoBoxChange(PoBoxChangePayload) = ["po-box-change"];
    ExtraDataChange(ExtraDataChangePayload) = ["extra-data-change"];
    CustomerCategoryChange(CustomerCategoryChangePayload) = ["customer-category-change"];
    PersonDeceased(PersonDeceasedPayload) = ["person-deceased"];
}

/// Event types the vendor's reader handles by their type alone, without a payload DTO.
pub const EVENTS_WITHOUT_PAYLOAD: &[&str] = &["person-formerly-deceased"];

impl EventPayload {
    /// Types `payload` (absent when `None`) by `event_type`. Never fails: see the variants.
    pub fn decode(event_type: &str, payload: Option<&Value>) -> Self {
        let payload = match payload {
            None | Some(Value::Null) => return EventPayload::Absent,
            Some(payload) => payload,
        };
        let known = EVENT_PAYLOADS.iter().any(|(e, _)| *e == event_type)
            || EVENTS_WITHOUT_PAYLOAD.contains(&event_type);
        if !known {
            return EventPayload::Unknown {
                event_type: event_type.to_string(),
                payload: payload.clone(),
            };
        }
        let inner = match payload {
            Value::Object(container) => match container.values().next() {
                None | Some(Value::Null) => return EventPayload::Absent,
                Some(inner) => inner,
            },
            other => return EventPayload::NotAnObject(other.clone()),
        };
        if !inner.is_object() {
            return EventPayload::NotAnObject(inner.clone());
        }
        match typed(event_type, inner) {
            Some(Ok(typed)) => typed,
            Some(Err(error)) => EventPayload::Undecodable {
                event_type: event_type.to_string(),
                payload: payload.clone(),
                error: error.to_string(),
            },
            None => EventPayload::Untyped {
                event_type: event_type.to_string(),
                payload: payload.clone(),
            },
        }
    }
}

/// Feed items whose payload can be typed.
pub trait TypedPayload {
    /// The payload typed by the item's event type (never fails; see [`EventPayload`]).
    fn typed_payload(&self) -> EventPayload;
}

impl TypedPayload for types::ApprovedChange {
    fn typed_payload(&self) -> EventPayload {
        EventPayload::decode(
            self.event_type.as_deref().unwrap_or(""),
            self.payload.as_ref(),
        )
    }
}

impl TypedPayload for types::Notification {
    fn typed_payload(&self) -> EventPayload {
        EventPayload::decode(
            self.event_type.as_deref().unwrap_or(""),
            self.payload.as_ref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_is_not_untyped_and_the_container_name_does_not_matter() {
        assert_eq!(
            EventPayload::decode("name-change", None),
            EventPayload::Absent
        );
        assert_eq!(
            EventPayload::decode("name-change", Some(&Value::Null)),
            EventPayload::Absent
        );
        assert_eq!(
            EventPayload::decode("name-change", Some(&json!({}))),
            EventPayload::Absent
        );
        assert_eq!(
            EventPayload::decode("name-change", Some(&json!({"x": null}))),
            EventPayload::Absent
        );
        assert_eq!(
            EventPayload::decode("name-change", Some(&json!("text"))),
            EventPayload::NotAnObject(json!("text"))
        );
        let EventPayload::NameChange(change) = EventPayload::decode(
            "name-change",
            Some(&json!({"AnyName": {"ProposedName": "B"}})),
        ) else {
            panic!("not typed");
        };
        assert_eq!(change.proposed_name.as_deref(), Some("B"));
        assert!(matches!(
            EventPayload::decode("name-change", Some(&json!({"p": {"ProposedName": 3}}))),
            EventPayload::Undecodable { .. }
        ));
        assert!(matches!(
            EventPayload::decode("brand-new", Some(&json!({"p": {}}))),
            EventPayload::Unknown { .. }
        ));
        assert!(matches!(
            EventPayload::decode("person-formerly-deceased", Some(&json!({"p": {}}))),
            EventPayload::Untyped { .. }
        ));
    }
}
