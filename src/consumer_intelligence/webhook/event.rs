//! The events of a Consumer Intelligence webhook delivery, typed.
//!
//! A delivery's body is a JSON **array** of events; every event has `id`, `type` and
//! `timestamp`, and the members of its type (the `*Event` schemas of
//! `specs/consumer_intelligence.yaml`, generated into [`types`]). The vendor lists twelve event
//! type values: `*` (the subscription wildcard, never delivered itself) and the eleven
//! delivered types, one [`WebhookEvent`] variant each. A type this crate does not know decodes
//! to [`WebhookEvent::Unknown`] with its whole JSON kept, so a vendor adding a type loses
//! nothing and breaks nothing.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::consumer_intelligence::types;

/// One delivered event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WebhookEvent {
    /// `PING`: sent when the webhook is created, to test the endpoint.
    Ping(types::PingEvent),
    /// `CONSUMER_UPLOADED`: a consumer has been uploaded.
    ConsumerUploaded(types::ConsumerUploadedEvent),
    /// `CONSUMER_DELETED`: a consumer has been deleted.
    ConsumerDeleted(types::ConsumerDeletedEvent),
    /// `CONSUMER_IDENTIFIED`: a person has been identified for a consumer.
    ConsumerIdentified(types::ConsumerIdentifiedEvent),
    /// `CONSUMER_NOT_IDENTIFIED`: no person could be identified for the consumer.
    ConsumerNotIdentified(types::ConsumerNotIdentifiedEvent),
    /// `PERSON_SUBSCRIBED` (payload inferred; see the schema).
    PersonSubscribed(types::PersonSubscribedEvent),
    /// `PERSON_UNSUBSCRIBED` (payload inferred; see the schema).
    PersonUnsubscribed(types::PersonUnsubscribedEvent),
    /// `PERSON_REIDENTIFIED`: a subscribed person was identified again with another gedi.
    PersonReidentified(types::PersonReidentifiedEvent),
    /// `PERSON_CHANGED`: a subscribed person has changed.
    PersonChanged(types::PersonChangedEvent),
    /// `ENRICHMENT_CHANGED`: an enrichment variable of a subscribed person has changed.
    EnrichmentChanged(types::EnrichmentChangedEvent),
    /// `LIFE_EVENT`: a life event of a subscribed person is predicted or occurred.
    LifeEvent(types::LifeEventEvent),
    /// A type this crate does not know, kept whole.
    Unknown(UnknownEvent),
}

/// An event of a type this crate does not know.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownEvent {
    pub id: String,
    pub event_type: String,
    /// `None` when the member is missing or not an RFC 3339 date-time.
    pub timestamp: Option<DateTime<Utc>>,
    /// The whole event as delivered.
    pub json: serde_json::Value,
}

/// The type values that decode to a typed [`WebhookEvent`] variant (every value of the spec's
/// `WebhookEventTypeDto` but the `*` wildcard; a test keeps the two in step).
pub const TYPED_EVENT_TYPES: [&str; 11] = [
    "PING",
    "CONSUMER_UPLOADED",
    "CONSUMER_DELETED",
    "CONSUMER_IDENTIFIED",
    "CONSUMER_NOT_IDENTIFIED",
    "PERSON_SUBSCRIBED",
    "PERSON_UNSUBSCRIBED",
    "PERSON_REIDENTIFIED",
    "PERSON_CHANGED",
    "ENRICHMENT_CHANGED",
    "LIFE_EVENT",
];

impl WebhookEvent {
    /// The event's id: the key to de-duplicate on (the vendor resends deliveries).
    pub fn id(&self) -> &str {
        match self {
            WebhookEvent::Ping(e) => &e.id,
            WebhookEvent::ConsumerUploaded(e) => &e.id,
            WebhookEvent::ConsumerDeleted(e) => &e.id,
            WebhookEvent::ConsumerIdentified(e) => &e.id,
            WebhookEvent::ConsumerNotIdentified(e) => &e.id,
            WebhookEvent::PersonSubscribed(e) => &e.id,
            WebhookEvent::PersonUnsubscribed(e) => &e.id,
            WebhookEvent::PersonReidentified(e) => &e.id,
            WebhookEvent::PersonChanged(e) => &e.id,
            WebhookEvent::EnrichmentChanged(e) => &e.id,
            WebhookEvent::LifeEvent(e) => &e.id,
            WebhookEvent::Unknown(e) => &e.id,
        }
    }

    /// When the event happened (`None` only for an unknown type without a readable one).
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        Some(match self {
            WebhookEvent::Ping(e) => e.timestamp,
            WebhookEvent::ConsumerUploaded(e) => e.timestamp,
            WebhookEvent::ConsumerDeleted(e) => e.timestamp,
            WebhookEvent::ConsumerIdentified(e) => e.timestamp,
            WebhookEvent::ConsumerNotIdentified(e) => e.timestamp,
            WebhookEvent::PersonSubscribed(e) => e.timestamp,
            WebhookEvent::PersonUnsubscribed(e) => e.timestamp,
            WebhookEvent::PersonReidentified(e) => e.timestamp,
            WebhookEvent::PersonChanged(e) => e.timestamp,
            WebhookEvent::EnrichmentChanged(e) => e.timestamp,
            WebhookEvent::LifeEvent(e) => e.timestamp,
            WebhookEvent::Unknown(e) => return e.timestamp,
        })
    }

    /// The `type` value as delivered, e.g. `PERSON_CHANGED`.
    pub fn event_type(&self) -> &str {
        match self {
            WebhookEvent::Ping(_) => "PING",
            WebhookEvent::ConsumerUploaded(_) => "CONSUMER_UPLOADED",
            WebhookEvent::ConsumerDeleted(_) => "CONSUMER_DELETED",
            WebhookEvent::ConsumerIdentified(_) => "CONSUMER_IDENTIFIED",
            WebhookEvent::ConsumerNotIdentified(_) => "CONSUMER_NOT_IDENTIFIED",
            WebhookEvent::PersonSubscribed(_) => "PERSON_SUBSCRIBED",
            WebhookEvent::PersonUnsubscribed(_) => "PERSON_UNSUBSCRIBED",
            WebhookEvent::PersonReidentified(_) => "PERSON_REIDENTIFIED",
            WebhookEvent::PersonChanged(_) => "PERSON_CHANGED",
            WebhookEvent::EnrichmentChanged(_) => "ENRICHMENT_CHANGED",
            WebhookEvent::LifeEvent(_) => "LIFE_EVENT",
            WebhookEvent::Unknown(e) => &e.event_type,
        }
    }

    /// Decodes one event (a JSON object) by its `type`.
    pub fn from_json(json: serde_json::Value) -> Result<WebhookEvent, EventError> {
        let object = json.as_object().ok_or(EventError::NotAnObject)?;
        let id = match object.get("id") {
            Some(serde_json::Value::String(id)) if !id.is_empty() => id.clone(),
            _ => return Err(EventError::MissingId),
        };
        let event_type = match object.get("type") {
            Some(serde_json::Value::String(t)) => t.clone(),
            _ => return Err(EventError::MissingType { id }),
        };
        fn typed<T: serde::de::DeserializeOwned>(
            json: serde_json::Value,
            id: &str,
            event_type: &str,
        ) -> Result<T, EventError> {
            serde_json::from_value(json).map_err(|e| EventError::Payload {
                id: id.to_string(),
                event_type: event_type.to_string(),
                message: e.to_string(),
            })
        }
        let (i, t) = (id.as_str(), event_type.as_str());
        Ok(match t {
            "PING" => WebhookEvent::Ping(typed(json, i, t)?),
            "CONSUMER_UPLOADED" => WebhookEvent::ConsumerUploaded(typed(json, i, t)?),
            "CONSUMER_DELETED" => WebhookEvent::ConsumerDeleted(typed(json, i, t)?),
            "CONSUMER_IDENTIFIED" => WebhookEvent::ConsumerIdentified(typed(json, i, t)?),
            "CONSUMER_NOT_IDENTIFIED" => WebhookEvent::ConsumerNotIdentified(typed(json, i, t)?),
            "PERSON_SUBSCRIBED" => WebhookEvent::PersonSubscribed(typed(json, i, t)?),
            "PERSON_UNSUBSCRIBED" => WebhookEvent::PersonUnsubscribed(typed(json, i, t)?),
            "PERSON_REIDENTIFIED" => WebhookEvent::PersonReidentified(typed(json, i, t)?),
            "PERSON_CHANGED" => WebhookEvent::PersonChanged(typed(json, i, t)?),
            "ENRICHMENT_CHANGED" => WebhookEvent::EnrichmentChanged(typed(json, i, t)?),
            "LIFE_EVENT" => WebhookEvent::LifeEvent(typed(json, i, t)?),
            _ => {
                let timestamp = object
                    .get("timestamp")
                    .and_then(|v| v.as_str())
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.with_timezone(&Utc));
                WebhookEvent::Unknown(UnknownEvent {
                    id,
                    event_type,
                    timestamp,
                    json,
                })
            }
        })
    }
}

/// Why one event of a delivery could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventError {
    /// The array item is not a JSON object.
    NotAnObject,
    /// No `id` string (or an empty one): the event could not be de-duplicated.
    MissingId,
    /// No `type` string.
    MissingType { id: String },
    /// A known type whose members do not match its schema.
    Payload {
        id: String,
        event_type: String,
        message: String,
    },
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventError::NotAnObject => f.write_str("the event is not a JSON object"),
            EventError::MissingId => f.write_str("the event has no `id` string"),
            EventError::MissingType { id } => write!(f, "event {id} has no `type` string"),
            EventError::Payload {
                id,
                event_type,
                message,
            } => write!(
                f,
                "event {id} ({event_type}) does not match its schema: {message}"
            ),
        }
    }
}

/// Why a delivery's body could not be decoded. Nothing of it was handed on: answer non-200 so
/// the vendor keeps it and resends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not JSON (or nests deeper than the parser allows).
    NotJson {
        line: usize,
        column: usize,
        message: String,
    },
    /// The body is JSON, but not an array.
    NotAnArray,
    /// The event at `index` (0-based) is not decodable.
    Event { index: usize, error: EventError },
}

impl DecodeError {
    /// A stable name for logs and metrics: `not_json`, `not_an_array`, `bad_event`.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::NotJson { .. } => "not_json",
            DecodeError::NotAnArray => "not_an_array",
            DecodeError::Event { .. } => "bad_event",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NotJson {
                line,
                column,
                message,
            } => write!(
                f,
                "the body is not JSON (line {line}, column {column}): {message}"
            ),
            DecodeError::NotAnArray => f.write_str("the body is not a JSON array of events"),
            DecodeError::Event { index, error } => write!(f, "event [{index}]: {error}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a delivery's raw body (a JSON array of events), in order. All or nothing: one bad
/// event fails the delivery, so nothing is silently dropped.
///
/// ```
/// use customer_data::consumer_intelligence::webhook::{decode_events, WebhookEvent};
/// let body = br#"[
///   {"id":"e1","type":"PING","timestamp":"2026-11-21T10:00:00Z"},
///   {"id":"e2","type":"NEW_KIND","timestamp":"2026-11-21T10:00:01Z","x":1}
/// ]"#;
/// let events = decode_events(body).unwrap();
/// assert!(matches!(events[0], WebhookEvent::Ping(_)));
/// assert_eq!((events[1].id(), events[1].event_type()), ("e2", "NEW_KIND"));
/// ```
pub fn decode_events(body: &[u8]) -> Result<Vec<WebhookEvent>, DecodeError> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| DecodeError::NotJson {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
    let serde_json::Value::Array(items) = json else {
        return Err(DecodeError::NotAnArray);
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            WebhookEvent::from_json(item).map_err(|error| DecodeError::Event { index, error })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(extra: serde_json::Value) -> serde_json::Value {
        let mut base = serde_json::json!({"id": "e", "timestamp": "2026-11-21T10:00:00Z"});
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        base
    }

    /// One valid sample per typed event type, shaped as the vendor's request samples.
    fn samples() -> Vec<serde_json::Value> {
        use serde_json::json;
        vec![
            event(json!({"type": "PING"})),
            event(json!({"type": "CONSUMER_UPLOADED", "consumerId": "c1", "market": "SE"})),
            event(json!({"type": "CONSUMER_DELETED", "consumerId": "c1", "market": "SE"})),
            event(
                json!({"type": "CONSUMER_IDENTIFIED", "consumerId": "c1", "market": "SE",
                         "gedi": "g", "source": "SPAR"}),
            ),
            event(
                json!({"type": "CONSUMER_NOT_IDENTIFIED", "consumerId": "c1", "market": "XX",
                         "sources": []}),
            ),
            event(json!({"type": "PERSON_SUBSCRIBED", "consumerIds": ["c1"], "gedi": "g"})),
            event(json!({"type": "PERSON_UNSUBSCRIBED"})),
            event(
                json!({"type": "PERSON_REIDENTIFIED", "consumerIds": ["c1"], "market": "NO",
                         "previous": {"gedi": "g1", "source": "FREG"},
                         "replacedBy": {"gedi": "g2", "source": "FREG"}}),
            ),
            event(
                json!({"type": "PERSON_CHANGED", "consumerIds": ["c1"], "gedi": "g",
                         "source": "CPR", "jsonPointers": ["/addresses"], "changedId": "x"}),
            ),
            event(
                json!({"type": "ENRICHMENT_CHANGED", "consumerIds": [], "gedi": "g",
                         "variable": "income"}),
            ),
            event(
                json!({"type": "LIFE_EVENT", "phase": "PREDICT", "market": "SE", "gedi": "g",
                         "consumerIds": ["c1"], "trigger": "HOUSEHOLD_MOVE",
                         "probability": 75, "withinEstimatedDays": 120}),
            ),
        ]
    }

    #[test]
    fn every_typed_event_type_decodes_to_its_own_variant() {
        let samples = samples();
        assert_eq!(samples.len(), TYPED_EVENT_TYPES.len());
        for (sample, expected) in samples.into_iter().zip(TYPED_EVENT_TYPES) {
            let decoded = WebhookEvent::from_json(sample).unwrap();
            assert!(!matches!(decoded, WebhookEvent::Unknown(_)), "{expected}");
            assert_eq!(decoded.event_type(), expected);
            assert_eq!(decoded.id(), "e");
            assert!(decoded.timestamp().is_some());
        }
    }

    #[test]
    fn the_typed_list_follows_the_spec_enum() {
        let spec: serde_json::Value =
            serde_yaml::from_str(include_str!("../../../specs/consumer_intelligence.yaml"))
                .unwrap();
        let listed: Vec<&str> = spec["components"]["schemas"]["WebhookEventTypeDto"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .filter(|v| *v != "*")
            .collect();
        assert_eq!(
            listed, TYPED_EVENT_TYPES,
            "specs/consumer_intelligence.yaml lists other event types than WebhookEvent has \
             variants: add a variant (src/consumer_intelligence/webhook/event.rs)"
        );
    }

    #[test]
    fn unknown_types_are_kept_whole_and_bad_events_are_typed_errors() {
        let unknown = serde_json::json!({"id": "u", "type": "*", "extra": [1, 2]});
        let WebhookEvent::Unknown(kept) = WebhookEvent::from_json(unknown.clone()).unwrap() else {
            panic!("not unknown");
        };
        assert_eq!(
            (kept.event_type.as_str(), kept.timestamp, &kept.json),
            ("*", None, &unknown)
        );

        let err = |body: &str| decode_events(body.as_bytes()).unwrap_err();
        assert_eq!(err("{}").reason(), "not_an_array");
        assert_eq!(err("[").reason(), "not_json");
        assert_eq!(
            err("[1]"),
            DecodeError::Event {
                index: 0,
                error: EventError::NotAnObject
            }
        );
        assert_eq!(
            err(r#"[{"type":"PING"}]"#),
            DecodeError::Event {
                index: 0,
                error: EventError::MissingId
            }
        );
        let DecodeError::Event {
            index: 1,
            error:
                EventError::Payload {
                    id,
                    event_type,
                    message,
                },
        } = err(
            r#"[{"id":"a","type":"PING","timestamp":"2026-11-21T10:00:00Z"},
                   {"id":"b","type":"CONSUMER_UPLOADED","timestamp":"2026-11-21T10:00:00Z"}]"#,
        )
        else {
            panic!("not a payload error");
        };
        assert_eq!(
            (id.as_str(), event_type.as_str()),
            ("b", "CONSUMER_UPLOADED")
        );
        assert!(message.contains("consumerId"), "{message}");
    }

    #[test]
    fn unlisted_enum_values_inside_known_events_still_decode() {
        let sample = event(
            serde_json::json!({"type": "CONSUMER_IDENTIFIED", "consumerId": "c",
            "market": "EE", "gedi": "g", "source": "NEW_REGISTER"}),
        );
        let WebhookEvent::ConsumerIdentified(e) = WebhookEvent::from_json(sample).unwrap() else {
            panic!("not typed");
        };
        assert_eq!(e.source.to_string(), "NEW_REGISTER");
        assert_eq!(e.market.to_string(), "EE");
    }
}
