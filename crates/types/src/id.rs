//! Typed resource ids: `Id<Image>` and `Id<Project>` are different types, so an image id
//! cannot be passed where a project id is expected, and every id in memory has already
//! been checked against its kind's format and normalized (an upper-case UUID is stored in
//! its lower-case form, so two spellings of one UUID are one id).
//!
//! An id is parsed once, where it enters: a request path or body (serde), a database row
//! (sqlx), a message. Inside, it is passed around as an `Id<K>`, cheap to clone.

use std::{cmp::Ordering, fmt, hash, marker::PhantomData, str::FromStr, sync::Arc};

use uuid::Uuid;

use crate::kind::Kind;

/// How a kind's ids are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A UUID in one textual form; other forms and other cases are normalized to it when
    /// the input is a UUID at all (see [`UuidForm`]).
    Uuid(UuidForm),
    /// Any string of 1 to `max_len` characters without control characters, compared
    /// exactly (Keystone's ids: `default`, LDAP or federated ids, `RegionOne`; Nova's
    /// flavor ids). [`Id::generate`] writes a fresh UUID in the form `generated`.
    Opaque { max_len: usize, generated: UuidForm },
}

/// The textual form of a UUID id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UuidForm {
    /// `8-4-4-4-12` lower-case hex: Glance, Nova, Neutron, Cinder ids. Only this form is
    /// accepted (any case), as Glance's schema pattern accepts it.
    Hyphenated,
    /// 32 lower-case hex digits (`uuid4().hex`): the ids Keystone generates.
    Simple,
}

/// An id that does not fit its kind's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIdError {
    /// The kind's name ("image").
    pub kind: &'static str,
    /// The offending input, cut to a length fit for a message.
    pub input: String,
    pub reason: Invalid,
}

/// Why an id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Empty,
    TooLong { max_len: usize },
    ControlCharacter,
    NotUuid(UuidForm),
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} id {:?}: {}",
            self.kind, self.input, self.reason
        )
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Invalid::Empty => write!(f, "empty"),
            Invalid::TooLong { max_len } => write!(f, "longer than {max_len} characters"),
            Invalid::ControlCharacter => write!(f, "contains a control character"),
            Invalid::NotUuid(UuidForm::Hyphenated) => write!(f, "not a UUID"),
            Invalid::NotUuid(UuidForm::Simple) => write!(f, "not 32 hexadecimal digits"),
        }
    }
}

impl std::error::Error for ParseIdError {}

/// The id of a resource of kind `K`.
///
/// Holds the normalized text behind an `Arc`: cloning is a reference count, and
/// [`Id::as_str`] borrows without formatting. Equality, hashing and ordering are those of
/// the normalized text, so they agree with the database's `TEXT` comparisons.
pub struct Id<K> {
    text: Arc<str>,
    // `fn() -> K`: an `Id<K>` is Send, Sync and Unpin whatever `K` is (kinds are
    // uninhabited markers).
    kind: PhantomData<fn() -> K>,
}

/// How many characters of a refused input a [`ParseIdError`] keeps.
const SHOWN: usize = 80;

impl<K: Kind> Id<K> {
    /// A fresh random id in the kind's format.
    pub fn generate() -> Self {
        Self::from_uuid(Uuid::new_v4())
    }

    /// The id of a UUID, written in the kind's form.
    pub fn from_uuid(u: Uuid) -> Self {
        let form = match K::FORMAT {
            Format::Uuid(form) => form,
            Format::Opaque { generated, .. } => generated,
        };
        Self::from_normalized(match form {
            UuidForm::Hyphenated => u.hyphenated().to_string(),
            UuidForm::Simple => u.simple().to_string(),
        })
    }

    /// Check `s` against the kind's format and normalize it.
    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        let refuse = |reason| ParseIdError {
            kind: K::NAME,
            input: s.chars().take(SHOWN).collect(),
            reason,
        };
        match K::FORMAT {
            Format::Uuid(form) => {
                let len = match form {
                    UuidForm::Hyphenated => 36,
                    UuidForm::Simple => 32,
                };
                // `Uuid::try_parse` also takes braced and URN forms: the length keeps
                // only the kind's own form.
                match Uuid::try_parse(s) {
                    Ok(u) if s.len() == len => Ok(Self::from_uuid(u)),
                    _ => Err(refuse(Invalid::NotUuid(form))),
                }
            }
            Format::Opaque { max_len, .. } => {
                if s.is_empty() {
                    Err(refuse(Invalid::Empty))
                } else if s.chars().nth(max_len).is_some() {
                    Err(refuse(Invalid::TooLong { max_len }))
                } else if s.chars().any(char::is_control) {
                    Err(refuse(Invalid::ControlCharacter))
                } else {
                    Ok(Self::from_normalized(s.to_owned()))
                }
            }
        }
    }

    fn from_normalized(text: String) -> Self {
        Id {
            text: text.into(),
            kind: PhantomData,
        }
    }

    /// The normalized text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The UUID this id writes, if it is one (always, for the UUID formats).
    pub fn uuid(&self) -> Option<Uuid> {
        Uuid::try_parse(&self.text).ok()
    }

    /// The kind's name ("image").
    pub fn kind_name(&self) -> &'static str {
        K::NAME
    }
}

// Written out rather than derived: a derive would require `K: Clone` and so on, which the
// uninhabited markers do not (and need not) implement.
impl<K> Clone for Id<K> {
    fn clone(&self) -> Self {
        Id {
            text: Arc::clone(&self.text),
            kind: PhantomData,
        }
    }
}

impl<K> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<K> Eq for Id<K> {}

impl<K> PartialEq<str> for Id<K> {
    fn eq(&self, other: &str) -> bool {
        &*self.text == other
    }
}

impl<K> PartialEq<&str> for Id<K> {
    fn eq(&self, other: &&str) -> bool {
        &*self.text == *other
    }
}

impl<K> hash::Hash for Id<K> {
    fn hash<H: hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state)
    }
}

impl<K> PartialOrd for Id<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Id<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text.cmp(&other.text)
    }
}

impl<K> AsRef<str> for Id<K> {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl<K> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<K: Kind> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id<{}>({:?})", K::NAME, &*self.text)
    }
}

impl<K: Kind> FromStr for Id<K> {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, ParseIdError> {
        Id::parse(s)
    }
}

impl<K> From<Id<K>> for String {
    fn from(id: Id<K>) -> String {
        id.text.to_string()
    }
}

impl<K> serde::Serialize for Id<K> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de, K: Kind> serde::Deserialize<'de> for Id<K> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<K>(PhantomData<fn() -> K>);
        impl<K: Kind> serde::de::Visitor<'_> for Visit<K> {
            type Value = Id<K>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a {} id", K::NAME)
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Id<K>, E> {
                Id::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_str(Visit(PhantomData))
    }
}

/// Ids are `TEXT` columns. Decoding checks the stored text like any other input and fails
/// (sqlx's `ColumnDecode`, naming the column) on a malformed id rather than carrying it
/// on: a stored id that does not parse is schema drift or a bug, and should be seen.
mod sql {
    use sqlx::{encode::IsNull, error::BoxDynError, Database, Decode, Encode, Type};

    use super::Id;
    use crate::kind::Kind;

    impl<K, DB: Database> Type<DB> for Id<K>
    where
        str: Type<DB>,
    {
        fn type_info() -> DB::TypeInfo {
            <str as Type<DB>>::type_info()
        }
        fn compatible(ty: &DB::TypeInfo) -> bool {
            <str as Type<DB>>::compatible(ty)
        }
    }

    impl<'q, K, DB: Database> Encode<'q, DB> for Id<K>
    where
        String: Encode<'q, DB>,
    {
        fn encode_by_ref(
            &self,
            buf: &mut <DB as Database>::ArgumentBuffer<'q>,
        ) -> Result<IsNull, BoxDynError> {
            <String as Encode<'q, DB>>::encode(self.text.to_string(), buf)
        }
    }

    // Through `String`, not `&str`: the `Any` driver panics when a borrowed `&str` is
    // asked of a value it holds owned.
    impl<'r, K: Kind, DB: Database> Decode<'r, DB> for Id<K>
    where
        String: Decode<'r, DB>,
    {
        fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
            let text = <String as Decode<'r, DB>>::decode(value)?;
            Ok(Id::parse(&text)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::{Domain, Flavor, Image, Project, Service};

    /// `Ok(normalized)` or `Err(reason)`.
    fn check<K: Kind>(input: &str, want: Result<&str, Invalid>) {
        let got = Id::<K>::parse(input).map_err(|e| e.reason);
        assert_eq!(
            got.as_ref().map(Id::as_str),
            want.as_ref().map(|s| *s),
            "{} {input:?}",
            K::NAME
        );
        if let Ok(id) = got {
            // Normalized text parses to itself, and FromStr agrees with parse.
            assert_eq!(Id::<K>::parse(id.as_str()).as_ref(), Ok(&id));
            assert_eq!(input.parse::<Id<K>>().as_ref(), Ok(&id));
        }
    }

    const U: &str = "6f1e2b9c-3a4d-4e5f-8a7b-0c1d2e3f4a5b";

    #[test]
    fn hyphenated_uuids() {
        use Invalid::*;
        let bad = Err(NotUuid(UuidForm::Hyphenated));
        check::<Image>(U, Ok(U));
        check::<Image>(&U.to_uppercase(), Ok(U));
        check::<Image>("6F1E2B9C-3a4d-4E5F-8a7b-0C1D2E3F4A5B", Ok(U));
        check::<Image>(
            "00000000-0000-0000-0000-000000000000",
            Ok("00000000-0000-0000-0000-000000000000"),
        );
        check::<Image>("", bad);
        check::<Image>("6f1e2b9c3a4d4e5f8a7b0c1d2e3f4a5b", bad);
        check::<Image>(&format!("{{{U}}}"), bad);
        check::<Image>(&format!("urn:uuid:{U}"), bad);
        check::<Image>(&format!(" {U}"), bad);
        check::<Image>(&format!("{U}0"), bad);
        check::<Image>("6f1e2b9c-3a4d-4e5f-8a7b-0c1d2e3f4a5g", bad);
        check::<Image>("6f1e2b9c-3a4d4-e5f-8a7b-0c1d2e3f4a5b", bad);
        check::<Image>("é", bad);
    }

    #[test]
    fn simple_uuids() {
        let bad = Err(Invalid::NotUuid(UuidForm::Simple));
        let s = "6f1e2b9c3a4d4e5f8a7b0c1d2e3f4a5b";
        check::<Service>(s, Ok(s));
        check::<Service>(&s.to_uppercase(), Ok(s));
        check::<Service>(U, bad);
        check::<Service>(&s[1..], bad);
        check::<Service>("", bad);
    }

    #[test]
    fn opaque_ids() {
        use Invalid::*;
        check::<Domain>("default", Ok("default"));
        // Opaque ids are compared exactly: no case folding, even of a UUID.
        check::<Domain>("Default", Ok("Default"));
        check::<Project>(&U.to_uppercase(), Ok(&U.to_uppercase()));
        check::<Project>("a b/c", Ok("a b/c"));
        check::<Project>(&"x".repeat(64), Ok(&"x".repeat(64)));
        // Characters, not bytes: 64 two-byte characters fit.
        check::<Project>(&"é".repeat(64), Ok(&"é".repeat(64)));
        check::<Project>(&"x".repeat(65), Err(TooLong { max_len: 64 }));
        check::<Project>(&"x".repeat(10_000), Err(TooLong { max_len: 64 }));
        check::<Project>("", Err(Empty));
        check::<Project>("a\nb", Err(ControlCharacter));
        check::<Project>("a\0", Err(ControlCharacter));
        check::<Flavor>("m1.tiny", Ok("m1.tiny"));
        check::<Flavor>(&"1".repeat(255), Ok(&"1".repeat(255)));
    }

    #[test]
    fn generated_ids_have_their_kinds_form() {
        let check = |id: &str, len: usize, hyphens: usize| {
            assert_eq!((id.len(), id.matches('-').count()), (len, hyphens), "{id}");
            assert_eq!(id, id.to_lowercase());
        };
        check(Id::<Image>::generate().as_str(), 36, 4);
        check(Id::<Service>::generate().as_str(), 32, 0);
        check(Id::<Project>::generate().as_str(), 32, 0);
        check(Id::<Flavor>::generate().as_str(), 36, 4);
        assert_ne!(Id::<Image>::generate(), Id::<Image>::generate());
    }

    #[test]
    fn errors_name_the_kind_and_cut_the_input() {
        let e = Id::<Image>::parse("nope").unwrap_err();
        assert_eq!(e.to_string(), r#"invalid image id "nope": not a UUID"#);
        let e = Id::<Project>::parse(&"x".repeat(10_000)).unwrap_err();
        assert_eq!(e.input.len(), SHOWN);
        assert_eq!(e.kind, "project");
    }

    #[test]
    fn serde_validates_and_normalizes() {
        let check = |json: &str, want: Result<&str, &str>| {
            let got = serde_json::from_str::<Id<Image>>(json);
            match (&got, want) {
                (Ok(id), Ok(w)) => {
                    assert_eq!(id.as_str(), w, "{json}");
                    assert_eq!(serde_json::to_string(id).unwrap(), format!("\"{w}\""));
                }
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{json}: {e}"),
                _ => panic!("{json}: {got:?}, want {want:?}"),
            }
        };
        check(&format!("\"{U}\""), Ok(U));
        check(&format!("\"{}\"", U.to_uppercase()), Ok(U));
        check("\"nope\"", Err("invalid image id \"nope\": not a UUID"));
        check("42", Err("expected a image id"));
        check("null", Err("expected a image id"));
    }

    #[test]
    fn one_uuid_is_one_id() {
        use std::collections::HashSet;
        let ids: HashSet<Id<Image>> = [U.to_owned(), U.to_uppercase()]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(ids.len(), 1);
        let id: Id<Image> = U.parse().unwrap();
        assert_eq!(id.uuid().map(|u| u.to_string()).as_deref(), Some(U));
        assert_eq!(Id::<Image>::from_uuid(id.uuid().unwrap()), id);
        assert_eq!(format!("{id}"), U);
        assert_eq!(format!("{id:?}"), format!("Id<image>({U:?})"));
        assert!(id == U);
        assert_eq!(String::from(id.clone()), U);
        assert_eq!(id.kind_name(), "image");
    }

    #[test]
    fn order_is_the_text_order() {
        let mut ids: Vec<Id<Project>> = ["b", "a", "B", "aa"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        ids.sort();
        let texts: Vec<&str> = ids.iter().map(Id::as_str).collect();
        assert_eq!(texts, ["B", "a", "aa", "b"]);
    }
}
