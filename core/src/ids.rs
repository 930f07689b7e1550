//! Identifiers. Newtypes so a door id can never be passed where a person id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

id!(
    /// Operating authority: the user ID (操作者ID / ユーザID, 003 §14).
    PersonId
);
id!(
    /// Matching identity (照合ID): what templates belong to, kept apart from authority so the matcher
    /// never handles user IDs and a person's authority can end without touching the matching data.
    MatchId
);
id!(SiteId);
id!(ZoneId);
id!(DoorId);
id!(TerminalId);
id!(ReaderId);
id!(ControllerId);
id!(GrantId);
id!(VisitId);
id!(ApprovalId);
