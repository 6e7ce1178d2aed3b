//! Bodies of the scheduler API in both of its media types.
//!
//! * `application/x-protobuf`: the prost types of `tritium-proto`.
//! * `application/json`: the Mesos JSON form — proto field names
//!   (`framework_info`, not `frameworkInfo`), enums by name, `bytes` in
//!   base64 and 64-bit integers as JSON numbers, as the master's
//!   `JSON::protobuf` writes them. The conversion goes through
//!   `prost-reflect` dynamic messages over the descriptors
//!   `tritium-proto` embeds ([`tritium_proto::FILE_DESCRIPTOR_SET`]), then is
//!   transcoded to the prost types, so both forms end up in the same structs.
//!
//! Also: which format a `Content-Type` names, and which format a SUBSCRIBE
//! `Accept` header lets the master stream (the master's
//! `Request::acceptsMediaType` rules, JSON first).

use std::fmt;
use std::sync::OnceLock;

use prost::Message;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions,
};
use tritium_proto::scheduler::{Call, Event};

/// Full protobuf name of the scheduler call.
pub const CALL_MESSAGE: &str = "mesos.v1.scheduler.Call";
/// Full protobuf name of the stream's event.
pub const EVENT_MESSAGE: &str = "mesos.v1.scheduler.Event";

/// The two media types of the scheduler API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Protobuf,
    Json,
}

impl Format {
    /// The media type, as sent in `Content-Type`.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }

    /// The format a `Content-Type` value names: the media type (parameters
    /// such as `charset` ignored, case-insensitive) must be exactly one of
    /// the two.
    pub fn from_content_type(value: &str) -> Option<Format> {
        let media = value.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Format::Protobuf)
        } else if media.eq_ignore_ascii_case("application/json") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.media_type())
    }
}

/// The format the master streams to a SUBSCRIBE with these `Accept` header
/// values (every `Accept` line of the request, in order; a client may send
/// several). Like the master: no `Accept` at all accepts everything; JSON
/// wins when both are acceptable (so `*/*` gets JSON); `q=0` refuses a
/// media range. `None` means 406 Not Acceptable.
pub fn negotiate_accept<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Format> {
    let mut ranges: Vec<(String, f32)> = Vec::new();
    let mut any_header = false;
    for value in values {
        any_header = true;
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            if media.is_empty() {
                continue;
            }
            let mut q = 1.0f32;
            for p in parts {
                if let Some((k, v)) = p.split_once('=')
                    && k.trim().eq_ignore_ascii_case("q")
                {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            ranges.push((media, q));
        }
    }
    if !any_header {
        return Some(Format::Json);
    }
    let accepts = |format: Format| {
        let (ty, sub) = format
            .media_type()
            .split_once('/')
            .expect("media type has a slash");
        // The most specific matching range decides (RFC 9110 §12.5.1).
        let mut best: Option<(u8, f32)> = None;
        for (media, q) in &ranges {
            let Some((rt, rs)) = media.split_once('/') else {
                continue;
            };
            let specificity = match (rt, rs) {
                (t, s) if t == ty && s == sub => 2,
                (t, "*") if t == ty => 1,
                ("*", "*") => 0,
                _ => continue,
            };
            if best.is_none_or(|(b, _)| specificity > b) {
                best = Some((specificity, *q));
            }
        }
        best.is_some_and(|(_, q)| q > 0.0)
    };
    [Format::Json, Format::Protobuf]
        .into_iter()
        .find(|f| accepts(*f))
}

/// A body that is not a valid message of the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

/// The descriptors of tritium's protos, decoded once.
pub fn descriptor_pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(tritium_proto::FILE_DESCRIPTOR_SET)
            .expect("tritium-proto embeds a valid FileDescriptorSet")
    })
}

fn descriptor(name: &str) -> MessageDescriptor {
    descriptor_pool()
        .get_message_by_name(name)
        .unwrap_or_else(|| panic!("{name} is in tritium-proto's descriptors"))
}

/// Mesos JSON → prost message `M`, whose protobuf name is `name`.
///
/// Unknown fields are ignored, as the master's JSON parser ignores them
/// (tritium's protos are a subset; clients may send more).
pub fn from_json<M: Message + Default>(name: &str, body: &[u8]) -> Result<M, CodecError> {
    let desc = descriptor(name);
    let mut de = serde_json::Deserializer::from_slice(body);
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    let dynamic = DynamicMessage::deserialize_with_options(desc, &mut de, &options)
        .map_err(|e| CodecError(format!("Failed to convert JSON into {name} protobuf: {e}")))?;
    de.end()
        .map_err(|e| CodecError(format!("Failed to convert JSON into {name} protobuf: {e}")))?;
    dynamic
        .transcode_to::<M>()
        .map_err(|e| CodecError(format!("Failed to convert JSON into {name} protobuf: {e}")))
}

/// Prost message `M` (protobuf name `name`) → Mesos JSON.
pub fn to_json<M: Message>(name: &str, message: &M) -> Vec<u8> {
    let desc = descriptor(name);
    let dynamic = DynamicMessage::decode(desc, message.encode_to_vec().as_slice())
        .expect("a prost message re-decodes with its own descriptor");
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .use_enum_numbers(false)
        .skip_default_fields(true);
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::new(&mut out);
    dynamic
        .serialize_with_options(&mut ser, &options)
        .expect("serializing to a Vec cannot fail");
    out
}

/// Decode a scheduler call sent as `format`.
pub fn decode_call(format: Format, body: &[u8]) -> Result<Call, CodecError> {
    match format {
        Format::Protobuf => Call::decode(body)
            .map_err(|e| CodecError(format!("Failed to parse body into Call protobuf: {e}"))),
        Format::Json => from_json(CALL_MESSAGE, body),
    }
}

/// Encode a scheduler call as `format` (for clients and tests).
pub fn encode_call(format: Format, call: &Call) -> Vec<u8> {
    match format {
        Format::Protobuf => call.encode_to_vec(),
        Format::Json => to_json(CALL_MESSAGE, call),
    }
}

/// Encode one event of the stream as `format` (the record's payload).
pub fn encode_event(format: Format, event: &Event) -> Vec<u8> {
    match format {
        Format::Protobuf => event.encode_to_vec(),
        Format::Json => to_json(EVENT_MESSAGE, event),
    }
}

/// Decode one event record received as `format` (for clients and tests).
pub fn decode_event(format: Format, body: &[u8]) -> Result<Event, CodecError> {
    match format {
        Format::Protobuf => Event::decode(body)
            .map_err(|e| CodecError(format!("Failed to parse body into Event protobuf: {e}"))),
        Format::Json => from_json(EVENT_MESSAGE, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use tritium_proto::scheduler::{call, event};
    use tritium_proto::v1::{AgentId, FrameworkId, MasterInfo, TaskId, TaskState, TaskStatus};

    #[test]
    fn content_types() {
        assert_eq!(
            Format::from_content_type("application/x-protobuf"),
            Some(Format::Protobuf)
        );
        assert_eq!(
            Format::from_content_type("application/json"),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_content_type("Application/JSON; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(Format::from_content_type("text/plain"), None);
        assert_eq!(Format::from_content_type("application/jsonx"), None);
        assert_eq!(Format::from_content_type(""), None);
    }

    #[test]
    fn accept_negotiation_follows_the_master() {
        // No Accept: everything is acceptable, JSON is the default.
        assert_eq!(negotiate_accept([]), Some(Format::Json));
        assert_eq!(negotiate_accept(["*/*"]), Some(Format::Json));
        assert_eq!(negotiate_accept(["application/*"]), Some(Format::Json));
        // mesos-go sends the header twice.
        assert_eq!(
            negotiate_accept(["application/x-protobuf", "application/x-protobuf"]),
            Some(Format::Protobuf)
        );
        assert_eq!(negotiate_accept(["application/json"]), Some(Format::Json));
        assert_eq!(
            negotiate_accept(["application/x-protobuf, application/json"]),
            Some(Format::Json)
        );
        assert_eq!(
            negotiate_accept(["application/json;q=0, application/x-protobuf;q=0.5"]),
            Some(Format::Protobuf)
        );
        assert_eq!(
            negotiate_accept(["*/*, application/json;q=0"]),
            Some(Format::Protobuf)
        );
        assert_eq!(negotiate_accept(["text/html"]), None);
        assert_eq!(negotiate_accept(["text/*, image/png"]), None);
        assert_eq!(negotiate_accept([""]), None);
    }

    #[test]
    fn pymesos_subscribe_json() {
        let body =
            br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"x"}}}"#;
        let c = decode_call(Format::Json, body).unwrap();
        assert_eq!(c.r#type, Some(call::Type::Subscribe as i32));
        assert_eq!(c.framework_id, None);
        let info = c.subscribe.unwrap().framework_info;
        assert_eq!(info.user, "root");
        assert_eq!(info.name, "x");
        assert_eq!(info.id, None);
    }

    #[test]
    fn json_accepts_camel_case_names_and_ignores_unknown_fields() {
        let body = br#"{"type":"SUBSCRIBE","subscribe":{"frameworkInfo":{"user":"u","name":"n",
            "failover_timeout":604800,"checkpoint":true,"capabilities":[{"type":"MULTI_ROLE"}],
            "roles":["a"],"not_in_tritiums_subset":{"x":1}}},"also_unknown":3}"#;
        let c = decode_call(Format::Json, body).unwrap();
        let info = c.subscribe.unwrap().framework_info;
        assert_eq!(info.failover_timeout, Some(604_800.0));
        assert_eq!(info.checkpoint, Some(true));
        assert_eq!(info.roles, vec!["a".to_owned()]);
        assert_eq!(info.capabilities.len(), 1);
    }

    #[test]
    fn json_acknowledge_with_base64_uuid() {
        let uuid: [u8; 16] = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x0f, 0xed, 0xcb, 0xa9, 0x87, 0x65,
            0x43, 0x21,
        ];
        let body = br#"{"type":"ACKNOWLEDGE","framework_id":{"value":"fw-1"},
            "acknowledge":{"agent_id":{"value":"a-1"},"task_id":{"value":"t-1"},
            "uuid":"EjRWeJq83vAP7cuph2VDIQ=="}}"#;
        let c = decode_call(Format::Json, body).unwrap();
        assert_eq!(c.r#type, Some(call::Type::Acknowledge as i32));
        assert_eq!(c.framework_id.as_ref().unwrap().value, "fw-1");
        let ack = c.acknowledge.clone().unwrap();
        assert_eq!(ack.agent_id.value, "a-1");
        assert_eq!(ack.task_id.value, "t-1");
        assert_eq!(ack.uuid, Bytes::copy_from_slice(&uuid));
        // And back: the same JSON shape, the same call.
        let json: serde_json::Value =
            serde_json::from_slice(&encode_call(Format::Json, &c)).unwrap();
        assert_eq!(json["acknowledge"]["uuid"], "EjRWeJq83vAP7cuph2VDIQ==");
        assert_eq!(json["type"], "ACKNOWLEDGE");
        assert_eq!(
            decode_call(Format::Json, &encode_call(Format::Json, &c)).unwrap(),
            c
        );
    }

    #[test]
    fn bad_bodies_are_errors() {
        assert!(decode_call(Format::Json, b"{").is_err());
        assert!(decode_call(Format::Json, b"{} trailing").is_err());
        // Like the master's parser: an unknown enum name in an optional
        // field leaves the field unset (the master then refuses the call
        // for its missing type).
        assert_eq!(
            decode_call(Format::Json, br#"{"type":"NO_SUCH_CALL"}"#)
                .unwrap()
                .r#type,
            None
        );
        assert!(decode_call(Format::Json, br#"{"type":{"no":1}}"#).is_err());
        assert!(decode_call(Format::Json, br#"{"framework_id":"not an object"}"#).is_err());
        assert!(
            decode_call(
                Format::Json,
                br#"{"type":"ACKNOWLEDGE","acknowledge":{"uuid":"!!"}}"#
            )
            .is_err()
        );
        assert!(decode_call(Format::Protobuf, &[0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn protobuf_round_trip() {
        let c = Call {
            r#type: Some(call::Type::Decline as i32),
            framework_id: Some(FrameworkId { value: "f".into() }),
            ..Call::default()
        };
        let bytes = encode_call(Format::Protobuf, &c);
        assert_eq!(decode_call(Format::Protobuf, &bytes).unwrap(), c);
    }

    fn sample_events() -> Vec<Event> {
        vec![
            Event {
                r#type: Some(event::Type::Subscribed as i32),
                subscribed: Some(event::Subscribed {
                    framework_id: FrameworkId {
                        value: "fw-0".into(),
                    },
                    heartbeat_interval_seconds: Some(15.0),
                    master_info: Some(MasterInfo {
                        id: "m".into(),
                        ip: 0x0100_007f,
                        port: 5050,
                        version: Some("1.11.0".into()),
                        ..MasterInfo::default()
                    }),
                }),
                ..Event::default()
            },
            Event {
                r#type: Some(event::Type::Update as i32),
                update: Some(event::Update {
                    status: TaskStatus {
                        task_id: TaskId { value: "t".into() },
                        state: TaskState::TaskRunning as i32,
                        agent_id: Some(AgentId { value: "a".into() }),
                        uuid: Some(Bytes::from_static(&[1, 2, 3, 4])),
                        timestamp: Some(1_700_000_000.5),
                        ..TaskStatus::default()
                    },
                }),
                ..Event::default()
            },
            Event {
                r#type: Some(event::Type::Heartbeat as i32),
                ..Event::default()
            },
        ]
    }

    #[test]
    fn events_in_mesos_json() {
        let events = sample_events();
        let v: serde_json::Value =
            serde_json::from_slice(&encode_event(Format::Json, &events[0])).unwrap();
        assert_eq!(v["type"], "SUBSCRIBED");
        assert_eq!(v["subscribed"]["framework_id"]["value"], "fw-0");
        assert_eq!(v["subscribed"]["heartbeat_interval_seconds"], 15.0);
        // uint32 and the like stay numbers; nothing camel-cased.
        assert_eq!(v["subscribed"]["master_info"]["port"], 5050);
        assert_eq!(v["subscribed"]["master_info"]["ip"], 0x0100_007f);
        assert!(v["subscribed"].get("heartbeatIntervalSeconds").is_none());
        // Fields that were not set are not written.
        assert!(v.get("offers").is_none());
        assert!(v["subscribed"]["master_info"].get("hostname").is_none());

        let v: serde_json::Value =
            serde_json::from_slice(&encode_event(Format::Json, &events[1])).unwrap();
        let status = &v["update"]["status"];
        assert_eq!(status["state"], "TASK_RUNNING");
        assert_eq!(status["uuid"], "AQIDBA==");
        assert_eq!(status["timestamp"], 1_700_000_000.5);

        let v: serde_json::Value =
            serde_json::from_slice(&encode_event(Format::Json, &events[2])).unwrap();
        assert_eq!(v, serde_json::json!({"type": "HEARTBEAT"}));
    }

    #[test]
    fn sixty_four_bit_integers_are_numbers() {
        let ev = Event {
            r#type: Some(event::Type::Update as i32),
            update: Some(event::Update {
                status: TaskStatus {
                    task_id: TaskId { value: "t".into() },
                    state: TaskState::TaskUnreachable as i32,
                    unreachable_time: Some(tritium_proto::v1::TimeInfo {
                        nanoseconds: 1_700_000_000_123_456_789,
                    }),
                    ..TaskStatus::default()
                },
            }),
            ..Event::default()
        };
        let v: serde_json::Value =
            serde_json::from_slice(&encode_event(Format::Json, &ev)).unwrap();
        assert_eq!(
            v["update"]["status"]["unreachable_time"]["nanoseconds"],
            serde_json::json!(1_700_000_000_123_456_789i64)
        );
    }

    #[test]
    fn events_round_trip_in_both_formats() {
        for ev in sample_events() {
            for f in [Format::Protobuf, Format::Json] {
                assert_eq!(decode_event(f, &encode_event(f, &ev)).unwrap(), ev, "{f}");
            }
        }
    }
}
