//! `RoleTest` (src/tests/role_tests.cpp): which role names a framework may
//! subscribe with, and what its offers are allocated to.

use tritium_proto::v1::FrameworkInfo;

use crate::client::*;

fn with_roles(roles: &[&str]) -> FrameworkInfo {
    let mut info = default_framework();
    info.roles = roles.iter().map(|r| (*r).to_owned()).collect();
    info
}

/// Mesos: RoleTest.BadRegister — with `--roles=foo,bar` (a role whitelist)
/// a framework of role `invalid` is refused with an ERROR.
///
/// Deliberate difference: the simulator has no role whitelist (Mesos
/// deprecated `--roles`; any valid role name is accepted, as a master with
/// implicit roles does). The check asserts that `invalid` subscribes.
#[test]
fn bad_register() {
    each_encoding(|enc| {
        let server = start(1);
        let s = subscribe_as(server.addr(), enc, &with_roles(&["invalid"]));
        assert!(!s.framework_id.is_empty());
    });
}

/// Mesos: RoleTest.ImplicitRoleRegister — a framework may subscribe with a
/// role no one configured, and is offered resources allocated to it.
/// (Its reservation and persistent volume steps are not transcribed: see
/// the suite's table.)
#[test]
fn implicit_role_register() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &with_roles(&["new-role-name"]));
        let offer = s.wait_offers().remove(0);
        assert_eq!(
            offer
                .allocation_info
                .as_ref()
                .and_then(|a| a.role.as_deref()),
            Some("new-role-name")
        );
        for r in &offer.resources {
            assert_eq!(
                r.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
                Some("new-role-name"),
                "{r:?}"
            );
        }
    });
}

/// The valid names of RoleTest.Validate.
const VALID: &[&str] = &[
    "foo",
    "123",
    "foo_123",
    "*",
    "foo-bar",
    "foo.bar",
    "foo..bar",
    "...",
    "foo/bar",
    "foo/.bar",
    "foo/bar/baz",
    "a/b/c/d/e/f/g/h",
];

/// The invalid names of RoleTest.Validate.
const INVALID: &[&str] = &[
    "",
    ".",
    "..",
    "-foo",
    "/",
    "/foo",
    "foo/",
    "foo//bar",
    "foo/bar/",
    "foo bar",
    "foo\tbar",
    "foo\nbar",
    "./.",
    "../..",
    "./foo",
    "../foo",
    "foo/.",
    "foo/..",
    "foo/./bar",
    "foo/../bar",
    "foo/-bar",
    "foo/*",
    "foo/*/bar",
    "*/foo",
];

/// Mesos: RoleTest.Validate (valid names) — a MULTI_ROLE framework
/// subscribes with each valid role.
#[test]
fn validate_valid_roles() {
    each_encoding(|enc| {
        let server = start(1);
        for role in VALID {
            eprintln!("role {role:?}");
            subscribe_as(server.addr(), enc, &with_roles(&[role]));
        }
    });
}

/// Mesos: RoleTest.Validate (invalid names) — a SUBSCRIBE with an invalid
/// role is answered `200`, one ERROR event, and the end of the stream; no
/// framework is added.
#[test]
fn validate_invalid_roles() {
    each_encoding(|enc| {
        let server = start(1);
        for role in INVALID {
            eprintln!("role {role:?}");
            let info = with_roles(&[role]);
            let message = subscribe_raw(server.addr(), enc, &subscribe_call(&info)).error();
            assert!(!message.is_empty());
        }
        assert_eq!(state(server.addr())["frameworks"], serde_json::json!([]));
    });
}

/// Mesos: RoleTest.Validate (lists) — `{foo, bar, *}` is valid, `{foo, .,
/// *}` is not.
#[test]
fn validate_role_lists() {
    each_encoding(|enc| {
        let server = start(1);
        subscribe_as(server.addr(), enc, &with_roles(&["foo", "bar", "*"]));
        let info = with_roles(&["foo", ".", "*"]);
        subscribe_raw(server.addr(), enc, &subscribe_call(&info)).error();
    });
}
