//! The regulations' roles and the zone levels they issue grants for (003 §13): the words the site file, the
//! city profiles, the staleness limits and the model all use, so none of them imports another for them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Roles of the regulations (seeds/README.md "Words used in the code").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// 統括責任者: permits Level 3 (003 §13(1)).
    SecurityDirector,
    /// 本人確認情報管理責任者: designates Level 2 (003 §13(2)).
    DataManager,
    /// システム管理者 / 電算管理者: permits Level 1, approves (003 §13(3), §7).
    SystemAdministrator,
    /// セキュリティ管理者: receives incidents (003 §20).
    SecurityManager,
    /// 拠点管理者: manages matching data, two per site (003 §5(4)).
    SiteAdministrator,
    /// 操作者.
    Operator,
    /// 保守業者.
    Vendor,
    /// 閲覧者 (004 §11).
    Viewer,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::SecurityDirector,
        Role::DataManager,
        Role::SystemAdministrator,
        Role::SecurityManager,
        Role::SiteAdministrator,
        Role::Operator,
        Role::Vendor,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::SecurityDirector => "security-director",
            Role::DataManager => "data-manager",
            Role::SystemAdministrator => "system-administrator",
            Role::SecurityManager => "security-manager",
            Role::SiteAdministrator => "site-administrator",
            Role::Operator => "operator",
            Role::Vendor => "vendor",
            Role::Viewer => "viewer",
        }
    }

    pub fn japanese(self) -> &'static str {
        match self {
            Role::SecurityDirector => "統括責任者",
            Role::DataManager => "本人確認情報管理責任者",
            Role::SystemAdministrator => "システム管理者",
            Role::SecurityManager => "セキュリティ管理者",
            Role::SiteAdministrator => "拠点管理者",
            Role::Operator => "操作者",
            Role::Vendor => "保守業者",
            Role::Viewer => "閲覧者",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// Security levels of 003 §13.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    L1,
    L2,
    L3,
}

impl Level {
    pub fn from_number(n: i64) -> Option<Level> {
        match n {
            1 => Some(Level::L1),
            2 => Some(Level::L2),
            3 => Some(Level::L3),
            _ => None,
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Level::L1 => 1,
            Level::L2 => 2,
            Level::L3 => 3,
        }
    }

    /// The role whose holder must issue a grant at this level under Sendai's regulation (003 §13(2)), the
    /// default profile. Decisions read the site's profile instead: [`crate::regulation::Regulation::issuer`].
    pub fn required_issuer(self) -> Role {
        match self {
            Level::L1 => Role::SystemAdministrator,
            Level::L2 => Role::DataManager,
            Level::L3 => Role::SecurityDirector,
        }
    }
}
