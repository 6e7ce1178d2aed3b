//! `SchedulerHttpApiTest` (src/tests/scheduler_http_api_tests.cpp): the
//! scheduler endpoint's HTTP rules — content types, `Accept`, the stream
//! and its `Mesos-Stream-Id`.

use tritium_proto::scheduler::{call, event};
use tritium_proto::v1::{AgentId, TaskId};
use tritium_sim::Credential;
use tritium_sim::codec;

use crate::client::*;

/// Mesos: SchedulerHttpApiTest.AuthenticationRequired — a master that
/// authenticates HTTP frameworks answers a request without credentials
/// `401 Unauthorized`.
#[test]
fn authentication_required() {
    each_encoding(|enc| {
        let server = start_with(tritium_sim::SimConfig {
            credential: Some(Credential {
                principal: PRINCIPAL.into(),
                secret: "secret1".into(),
            }),
            ..config(1)
        });
        let r = request(
            server.addr(),
            "POST",
            "/api/v1/scheduler",
            &call_headers(enc, Some(enc.media_type()), None),
            &codec::encode_call(enc, &subscribe_call(&default_framework())),
        );
        assert_eq!(r.status(), 401, "{r:?}");
        assert!(
            r.head
                .header("WWW-Authenticate")
                .is_some_and(|v| v.starts_with("Basic")),
            "401 without a Basic challenge: {}",
            r.head.raw
        );
    });
}

/// Mesos: SchedulerHttpApiTest.NoContentType — a POST without
/// `Content-Type` is a `400 Bad Request`.
#[test]
fn no_content_type() {
    each_encoding(|enc| {
        let server = start(1);
        let r = request(
            server.addr(),
            "POST",
            "/api/v1/scheduler",
            &[("Accept", enc.media_type())],
            &codec::encode_call(enc, &subscribe_call(&default_framework())),
        );
        assert_eq!(r.status(), 400, "{r:?}");
    });
}

/// Mesos: SchedulerHttpApiTest.ValidJsonButInvalidProtobuf — a body that
/// is valid in its encoding but no valid `scheduler::Call` is a 400. (The
/// Mesos test is JSON only, `{"string": "valid_json"}`; its protobuf twin
/// here is an empty message, which decodes to a Call without a type.)
#[test]
fn valid_json_but_invalid_protobuf() {
    each_encoding(|enc| {
        let server = start(1);
        let body: &[u8] = match enc {
            Encoding::Json => br#"{"string":"valid_json"}"#,
            Encoding::Protobuf => b"",
        };
        let r = request(
            server.addr(),
            "POST",
            "/api/v1/scheduler",
            &call_headers(enc, Some(enc.media_type()), None),
            body,
        );
        assert_eq!(r.status(), 400, "{r:?}");
    });
}

/// Mesos: SchedulerHttpApiTest.MalformedContent — an undecodable body is
/// a 400.
#[test]
fn malformed_content() {
    each_encoding(|enc| {
        let server = start(1);
        let r = request(
            server.addr(),
            "POST",
            "/api/v1/scheduler",
            &call_headers(enc, Some(enc.media_type()), None),
            b"MALFORMED_CONTENT",
        );
        assert_eq!(r.status(), 400, "{r:?}");
    });
}

/// Mesos: SchedulerHttpApiTest.UnsupportedContentMediaType — a valid call
/// sent as `application/unknown-media-type` is a `415`.
#[test]
fn unsupported_content_media_type() {
    each_encoding(|enc| {
        let server = start(1);
        let r = request(
            server.addr(),
            "POST",
            "/api/v1/scheduler",
            &[
                ("Content-Type", "application/unknown-media-type"),
                ("Accept", enc.media_type()),
            ],
            &codec::encode_call(enc, &subscribe_call(&default_framework())),
        );
        assert_eq!(r.status(), 415, "{r:?}");
    });
}

/// Mesos: SchedulerHttpApiTest.Subscribe — `200`, `Transfer-Encoding:
/// chunked`, a non-empty `Mesos-Stream-Id`, then SUBSCRIBED with a
/// framework id, then HEARTBEAT, and another HEARTBEAT an interval later.
#[test]
fn subscribe() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        assert_eq!(s.head.status(), 200);
        assert_eq!(
            s.head.parsed.framing,
            tritium_core::wire::BodyFraming::Chunked
        );
        assert_eq!(
            s.head.header("Transfer-Encoding").as_deref(),
            Some("chunked")
        );
        assert_eq!(
            s.head.parsed.content_type.as_deref(),
            Some(enc.media_type())
        );
        assert!(!s.stream_id.is_empty(), "empty Mesos-Stream-Id");
        assert!(
            !s.framework_id.is_empty(),
            "SUBSCRIBED without a framework id"
        );
        let ev = s.next_event().expect("HEARTBEAT");
        assert_eq!(kind(&ev), Some(event::Type::Heartbeat), "{ev:?}");
        s.wait_event(event::Type::Heartbeat);
    });
}

/// Mesos: SchedulerHttpApiTest.RejectFrameworkWithInvalidRole — roles
/// `["/test/test1"]`: `200`, chunked, and ERROR as the first event.
#[test]
fn reject_framework_with_invalid_role() {
    each_encoding(|enc| {
        let server = start(1);
        let mut info = default_framework();
        info.roles = vec!["/test/test1".into()];
        let message = subscribe_raw(server.addr(), enc, &subscribe_call(&info)).error();
        assert!(!message.is_empty());
    });
}

/// Mesos: SchedulerHttpApiTest.SubscribeWithStreamId — a SUBSCRIBE that
/// carries `Mesos-Stream-Id` is a 400.
#[test]
fn subscribe_with_stream_id() {
    each_encoding(|enc| {
        let server = start(1);
        let r = subscribe_with(
            server.addr(),
            enc,
            &subscribe_call(&default_framework()),
            Some(enc.media_type()),
            Some("0b4f7b0e-6e8c-4f5a-9a51-3b2c5d6e7f80"),
        )
        .refused();
        assert_eq!(r.status(), 400, "{r:?}");
    });
}

/// Mesos: SchedulerHttpApiTest.SubscribedOnRetry — subscribing again with
/// the framework id (after a blip) gives SUBSCRIBED with the same id, then
/// a HEARTBEAT.
#[test]
fn subscribed_on_retry() {
    each_encoding(|enc| {
        let server = start(1);
        let first = subscribe_as(server.addr(), enc, &default_framework());
        let info = first.resubscribe_info(default_framework());
        let mut second = subscribe_as(server.addr(), enc, &info);
        assert_eq!(second.framework_id, first.framework_id);
        let ev = second.next_event().expect("HEARTBEAT");
        assert_eq!(kind(&ev), Some(event::Type::Heartbeat), "{ev:?}");
    });
}

/// Mesos: SchedulerHttpApiTest.NotAcceptable — SUBSCRIBE with `Accept:
/// foo` is a `406`.
#[test]
fn not_acceptable() {
    each_encoding(|enc| {
        let server = start(1);
        let r = subscribe_with(
            server.addr(),
            enc,
            &subscribe_call(&default_framework()),
            Some("foo"),
            None,
        )
        .refused();
        assert_eq!(r.status(), 406, "{r:?}");
    });
}

/// Mesos: SchedulerHttpApiTest.NoAcceptHeader — no `Accept`: everything is
/// acceptable and the stream is JSON.
#[test]
fn no_accept_header() {
    each_encoding(|enc| {
        let server = start(1);
        let s = subscribe_with(
            server.addr(),
            enc,
            &subscribe_call(&default_framework()),
            None,
            None,
        )
        .subscribed();
        assert_eq!(
            s.head.parsed.content_type.as_deref(),
            Some("application/json")
        );
    });
}

/// Mesos: SchedulerHttpApiTest.DefaultAccept — `Accept: */*`: the stream is
/// JSON.
#[test]
fn default_accept() {
    each_encoding(|enc| {
        let server = start(1);
        let s = subscribe_with(
            server.addr(),
            enc,
            &subscribe_call(&default_framework()),
            Some("*/*"),
            None,
        )
        .subscribed();
        assert_eq!(
            s.head.parsed.content_type.as_deref(),
            Some("application/json")
        );
    });
}

/// Mesos: SchedulerHttpApiTest.GetRequest — `GET /api/v1/scheduler` is
/// `405 Method Not Allowed` with `Allow: POST`.
#[test]
fn get_request() {
    each_encoding(|enc| {
        let server = start(1);
        let r = request(
            server.addr(),
            "GET",
            "/api/v1/scheduler",
            &[("Accept", enc.media_type())],
            b"",
        );
        assert_eq!(r.status(), 405, "{r:?}");
        assert_eq!(r.head.header("Allow").as_deref(), Some("POST"));
    });
}

/// Mesos: SchedulerHttpApiTest.TeardownWithoutStreamId — TEARDOWN without
/// `Mesos-Stream-Id` is a 400 (and the framework stays).
#[test]
fn teardown_without_stream_id() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let r = s.call_with(new_call(call::Type::Teardown), None);
        assert_eq!(r.status(), 400, "{r:?}");
        let st = state(server.addr());
        assert_eq!(st["frameworks"][0]["id"], s.framework_id.as_str());
        assert_eq!(st["frameworks"][0]["active"], true);
    });
}

/// Mesos: SchedulerHttpApiTest.TeardownWrongStreamId — a re-subscription
/// gets a new stream id; TEARDOWN with the old one is a 400.
#[test]
fn teardown_wrong_stream_id() {
    each_encoding(|enc| {
        let server = start(1);
        let first = subscribe_as(server.addr(), enc, &default_framework());
        let old = first.stream_id.clone();
        let mut second = subscribe_as(
            server.addr(),
            enc,
            &first.resubscribe_info(default_framework()),
        );
        assert_ne!(
            second.stream_id, old,
            "a re-subscription reused the stream id"
        );
        let r = second.call_with(new_call(call::Type::Teardown), Some(&old));
        assert_eq!(r.status(), 400, "{r:?}");
        assert_eq!(state(server.addr())["frameworks"][0]["active"], true);
    });
}

/// Mesos: SchedulerHttpApiTest.MalformedUUID — ACKNOWLEDGE with uuid
/// `bad-uuid` is a 400 with body "Failed to validate scheduler::Call: Not
/// a valid UUID".
#[test]
fn malformed_uuid() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let mut c = new_call(call::Type::Acknowledge);
        c.acknowledge = Some(call::Acknowledge {
            agent_id: AgentId {
                value: "agent-id".into(),
            },
            task_id: TaskId {
                value: "task-id".into(),
            },
            uuid: bytes::Bytes::from_static(b"bad-uuid"),
        });
        let r = s.call(c);
        assert_eq!(r.status(), 400, "{r:?}");
        assert_eq!(
            r.text(),
            "Failed to validate scheduler::Call: Not a valid UUID"
        );
    });
}
