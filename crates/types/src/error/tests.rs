use std::fmt;

use super::*;
use crate::kind::{self, Kind};

const U: &str = "6f1e2b9c-3a4d-4e5f-8a7b-0c1d2e3f4a5b";

/// Each kind's not-found and conflict messages, as its service words them.
#[test]
fn typed_not_found_and_conflict() {
    fn check<K: Kind>(id: &str, not_found: &str, conflict: &str) {
        let id: Id<K> = id.parse().unwrap();
        let e = Error::not_found_id(&id);
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::NotFound, not_found)
        );
        let resource = Resource {
            kind: K::NAME,
            id: id.to_string(),
        };
        assert_eq!(e.resource.as_deref(), Some(&resource));
        let e = Error::conflict_id(&id);
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Conflict, conflict)
        );
        assert_eq!(e.resource.as_deref(), Some(&resource));
    }
    check::<kind::Image>(
        U,
        &format!("No image found with ID {U}"),
        &format!("Image with identifier {U} already exists!"),
    );
    // The upper-case spelling names the normalized id.
    check::<kind::Image>(
        &U.to_uppercase(),
        &format!("No image found with ID {U}"),
        &format!("Image with identifier {U} already exists!"),
    );
    check::<kind::Project>(
        "p1",
        "Could not find project: p1.",
        "Conflict occurred attempting to store project - Duplicate ID, p1.",
    );
    check::<kind::Domain>(
        "default",
        "Could not find domain: default.",
        "Conflict occurred attempting to store domain - Duplicate ID, default.",
    );
    check::<kind::Server>(
        U,
        &format!("Instance {U} could not be found."),
        &format!("Instance {U} already exists."),
    );
    check::<kind::Network>(
        U,
        &format!("Network {U} could not be found."),
        &format!("Network {U} already exists."),
    );
    check::<kind::Volume>(
        U,
        &format!("Volume {U} could not be found."),
        &format!("Volume {U} already exists."),
    );
}

/// A cause for the chain tests, with a cause of its own.
#[derive(Debug)]
struct Io(&'static str, Option<Box<Io>>);

impl fmt::Display for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl StdError for Io {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.1.as_deref().map(|e| e as &(dyn StdError + 'static))
    }
}

/// The cause is logged through `report`/`source`, never pasted into the message.
#[test]
fn source_chain_is_kept_apart_from_the_message() {
    let check = |e: Error, message: &str, display: &str, report: &str, depth: usize| {
        assert_eq!(e.message, message);
        assert_eq!(e.to_string(), display);
        assert_eq!(e.report().to_string(), report);
        assert_eq!(e.chain().count(), depth);
    };
    let disk = || Io("disk full", Some(Box::new(Io("EIO", None))));
    check(
        Error::internal_from(disk()),
        INTERNAL_MESSAGE,
        &format!("Internal: {INTERNAL_MESSAGE}"),
        &format!("Internal: {INTERNAL_MESSAGE}: disk full: EIO"),
        3,
    );
    check(
        Error::unavailable("The store is not available.")
            .with_detail("writing /var/x")
            .with_source(disk()),
        "The store is not available.",
        "Unavailable: The store is not available. (writing /var/x)",
        "Unavailable: The store is not available. (writing /var/x): disk full: EIO",
        3,
    );
    check(
        Error::internal("no key"),
        INTERNAL_MESSAGE,
        &format!("Internal: {INTERNAL_MESSAGE} (no key)"),
        &format!("Internal: {INTERNAL_MESSAGE} (no key)"),
        1,
    );
    let id: Id<kind::Image> = U.parse().unwrap();
    check(
        Error::not_found_id(&id).with_message(format!("Image {U} could not be found.")),
        &format!("Image {U} could not be found."),
        &format!("NotFound: Image {U} could not be found."),
        &format!("NotFound: Image {U} could not be found."),
        1,
    );
    // A cause that repeats the end of its parent's text is printed once.
    check(
        Error::internal_from(Io("reading x: EIO", Some(Box::new(Io("EIO", None))))),
        INTERNAL_MESSAGE,
        &format!("Internal: {INTERNAL_MESSAGE}"),
        &format!("Internal: {INTERNAL_MESSAGE}: reading x: EIO"),
        3,
    );
    // Clones share the cause.
    let e = Error::internal_from(disk());
    assert_eq!(e.clone().report().to_string(), e.report().to_string());
}

#[test]
fn malformed_ids_are_bad_requests() {
    let e: Error = Id::<kind::Image>::parse("x").unwrap_err().into();
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert_eq!(e.message, r#"Invalid image id "x": not a UUID."#);
}

#[test]
fn sqlx_errors_are_classified() {
    let check = |e: sqlx::Error, kind: ErrorKind, message: &str| {
        let text = e.to_string();
        let err = Error::from(e);
        assert_eq!((err.kind, err.message.as_str()), (kind, message), "{text}");
        // The sqlx error is the cause, for the log.
        assert_eq!(err.chain().nth(1).map(|c| c.to_string()), Some(text));
    };
    check(sqlx::Error::RowNotFound, ErrorKind::NotFound, sql::NO_ROW);
    check(
        sqlx::Error::PoolTimedOut,
        ErrorKind::Unavailable,
        "The database is not available.",
    );
    check(
        sqlx::Error::PoolClosed,
        ErrorKind::Unavailable,
        "The database is not available.",
    );
    check(
        sqlx::Error::ColumnNotFound("status".into()),
        ErrorKind::Internal,
        INTERNAL_MESSAGE,
    );
    // Unique violations come from a real engine: db's tests check them on SQLite and
    // PostgreSQL.
}
