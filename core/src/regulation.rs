//! City profiles: the rules in which the five regulations differ, as plain data (issue 21 §6).
//!
//! The code's default is Sendai's regulation (003), which the project was written against. A site names its
//! city's preset in `[regulation]` and may override single rules; the resolved [`Regulation`] is part of the
//! [`crate::site::Site`], so policy (`Registry::issuer_valid`, `policy::decide`) and the administrative rule
//! (`admin::authorize_in`) read it from there and nothing is global.
//!
//! Where a regulation is silent on a rule, its preset keeps Sendai's rule and says so. Role words follow
//! seeds/README.md; two officers without a word of their own are mapped to the nearest role:
//! - 000's セキュリティ責任者 (市民課長, §5), 001's 保護責任者 (課長, §5), 002's 電算責任者 (各課等の長, §5(3)) and
//!   004's 情報セキュリティ責任者 (§4) are each the head of the section that uses the data and answers for its
//!   security there: the **security manager** (as 003 §6's セキュリティ管理者 is the using section's officer).
//! - 002's 電算管理者 (企画部長, §5(1)) and 004's 二要素認証システム管理者 (情報システム課長, §3(2)) manage the
//!   computers and the authentication system for the whole city: the **system administrator**.

use crate::roles::{Level, Role};
use std::fmt;
use std::str::FromStr;

/// The cities whose regulations are in seeds/ (file name in the doc of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// 003: 仙台市職員共済組合 住基ネットセキュリティ管理規程 (the default).
    Sendai,
    /// 000: 北茨城市 本人確認情報の保護に関する規程.
    Kitaibaraki,
    /// 002: 小浜市 電子計算機処理に係る個人情報の保護に関する規則.
    Obama,
    /// 001: 久留米市 特定個人情報管理規程.
    Kurume,
    /// 004: 北見市 行政情報システムの管理運用に関する取扱要領.
    Kitami,
}

impl Preset {
    pub const ALL: [Preset; 5] = [Preset::Sendai, Preset::Kitaibaraki, Preset::Obama, Preset::Kurume, Preset::Kitami];

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Sendai => "sendai",
            Preset::Kitaibaraki => "kitaibaraki",
            Preset::Obama => "obama",
            Preset::Kurume => "kurume",
            Preset::Kitami => "kitami",
        }
    }

    /// The regulation's file in seeds/, as cited (`000 §7(1)`).
    pub fn seed(self) -> &'static str {
        match self {
            Preset::Sendai => "003",
            Preset::Kitaibaraki => "000",
            Preset::Obama => "002",
            Preset::Kurume => "001",
            Preset::Kitami => "004",
        }
    }

    pub fn japanese(self) -> &'static str {
        match self {
            Preset::Sendai => "仙台市",
            Preset::Kitaibaraki => "北茨城市",
            Preset::Obama => "小浜市",
            Preset::Kurume => "久留米市",
            Preset::Kitami => "北見市",
        }
    }

    /// The preset's rules, each set from the city's own articles.
    pub fn regulation(self) -> Regulation {
        use Role::*;
        let sendai = Regulation {
            preset: Preset::Sendai,
            // 003 §13(2): Level 1 (terminals, biometric devices, network equipment) — system operators permitted by
            // the system administrator; Level 2 (server room) — those the data manager (本人確認情報管理責任者)
            // designates; Level 3 (media storage) — those the security director (統括責任者) permits.
            level1_issuer: SystemAdministrator,
            level2_issuer: DataManager,
            level3_issuer: SecurityDirector,
            // 003 §7(3): registering and deleting an operator's matching data, delegating and returning operating
            // authority are the site administrators' (拠点管理者) requests, approved by the system administrator.
            operator_designator: SystemAdministrator,
            operator_requesters: vec![SiteAdministrator],
            // 003 §14(1): the system administrator checks the operation history; the supervising officers of
            // §3–§6 read every section's; a site administrator reads their own section's and asks the system
            // administrator for another's (the project's reading of 002 §7(11), which 003 does not address).
            record_readers: vec![SystemAdministrator, SecurityManager, SecurityDirector, DataManager],
            view_approver: SystemAdministrator,
            own_section_needs_approval: false,
            // 003 is silent on office hours; tobira applies 002 §5-2 everywhere: off-hours terminal use with the
            // system administrator's prior approval, on the site's `[office_hours]` calendar.
            off_hours_approver: SystemAdministrator,
            // 003 §11(2): the data manager has the operators keep the media in their set place — the custodian
            // who records returns and disposals (§11(5)); §11(3): a medium leaves the office only with the
            // consent of both the data manager and the system administrator.
            media_custodian: DataManager,
            media_takeout_consent: vec![DataManager, SystemAdministrator],
        };
        match self {
            Preset::Sendai => sendai,
            Preset::Kitaibaraki => Regulation {
                preset: self,
                // 000 §8(1), §9(1)-(2): the security officer (セキュリティ責任者, 市民課長) designates the operators
                // of the computers and terminals and does the access control that confirms their authority.
                level1_issuer: SecurityManager,
                // 000 §7(1): whoever enters the server room (サーバ設置室) needs the permission of 管理者 =
                // システム管理者 (§4).
                level2_issuer: SystemAdministrator,
                // 000 is silent on a media storage room: Sendai's rule (003 §13(2), the security director).
                // 000 §8(1)-(2): the security officer designates operators and registers (and on transfer deletes)
                // their palm-vein data.
                operator_designator: SecurityManager,
                // 000 §11: the security director (統括責任者) manages the information assets, the magnetic disks
                // and printed forms holding the data among them — the media custodian. 000 is silent on taking
                // media out: Sendai's consents (003 §11(3)).
                media_custodian: SecurityDirector,
                // 000 is silent on reading the operation history (§9(3) only keeps it 7 years), on requests and
                // on office hours: Sendai's rules.
                ..sendai
            },
            Preset::Obama => Regulation {
                preset: self,
                // 002 §7(1)-(3): terminals are managed by the 電算管理者, who on the section head's notification
                // (端末機担当者届出書) sets the operator's password — the system administrator permits Level 1.
                level1_issuer: SystemAdministrator,
                // 002 §10(1): the server room (電子計算機室) is entered by those the 電算責任者 managing it
                // admits (also §10(2) the cabinet, §10(3) operating the server).
                level2_issuer: SecurityManager,
                // 002 §5-4 keeps outsiders out of server and media storage places but does not say who permits
                // staff into a media room: Sendai's rule (the security director).
                // 002 §7(2)-(3): the 電算責任者 notifies the operator (a request), the 電算管理者 registers it.
                operator_designator: SystemAdministrator,
                operator_requesters: vec![SiteAdministrator, SecurityManager],
                // 002 §7(11): the 電算責任者 checks terminal operation records only with the 電算管理者's approval —
                // their own section's included; the 電算管理者 reads directly (§7(1), §7(12)).
                record_readers: vec![SystemAdministrator, SecurityDirector, DataManager],
                view_approver: SystemAdministrator,
                own_section_needs_approval: true,
                // 002 §5-2: terminal use on holidays or outside office hours after prior consultation with the
                // 電算管理者 (the calendar itself is Obama's 休日条例 and 執務時間規則: the site's `[office_hours]`).
                off_hours_approver: SystemAdministrator,
                // 002 §6④: the 電算責任者 keeps the data and the media in their set place, erases a medium before
                // disposing of it ((3)) and records their handing over, keeping and disposal ((6)) — custodian
                // and the one whose record a take-out needs.
                media_custodian: SecurityManager,
                media_takeout_consent: vec![SecurityManager],
                ..sendai
            },
            Preset::Kurume => Regulation {
                preset: self,
                // 001 §6: the protection officer (保護責任者, 課長) designates the staff who handle the data; §14(1)
                // keeps others out of the handling area; §15(2) allocates IDs — Level 1 and operator designation.
                level1_issuer: SecurityManager,
                operator_designator: SecurityManager,
                // 001 §8(2): the protection officer records every taking out of the data (its date and the rest);
                // §9: and keeps the record of its disposal (a contractor's by certificate).
                media_custodian: SecurityManager,
                media_takeout_consent: vec![SecurityManager],
                // 001 is silent on server and media rooms, on reading the history and on office hours: Sendai's
                // rules.
                ..sendai
            },
            Preset::Kitami => Regulation {
                preset: self,
                // 004 §6(1)-(3): the section's 情報セキュリティ責任者 designates or revokes terminal authority by
                // application (申請) to the 二要素認証システム管理者, who registers it; §6(4) the user registers
                // biometric data where that administrator designates.
                level1_issuer: SystemAdministrator,
                operator_designator: SystemAdministrator,
                operator_requesters: vec![SiteAdministrator, SecurityManager],
                // 004 is silent on server and media rooms, on reading operation history (§11 lends viewer IDs,
                // a separate act), on office hours and on storage media: Sendai's rules.
                ..sendai
            },
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown regulation preset {0:?}")]
pub struct UnknownPreset(pub String);

impl FromStr for Preset {
    type Err = UnknownPreset;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preset::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownPreset(s.to_string()))
    }
}

/// The rules a city's regulation decides. Built from a [`Preset`] and the site's overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regulation {
    /// The preset the rules started from (overrides may have changed single rules since).
    pub preset: Preset,
    /// The role whose grants count at Level 1 (terminals, terminal and network rooms).
    pub level1_issuer: Role,
    /// The role whose grants count at Level 2 (server room).
    pub level2_issuer: Role,
    /// The role whose grants count at Level 3 (media storage).
    pub level3_issuer: Role,
    /// Designates operators: enrolls and removes their matching data directly and approves requests to do so.
    /// The system administrator keeps these acts in every profile (it registers people and must be able to
    /// enroll the designator themselves).
    pub operator_designator: Role,
    /// Roles whose enrollments, removals and Level 1 delegations and returns are requests, waiting for the
    /// designator's (or for a Level 1 grant, the Level 1 issuer's) approval.
    pub operator_requesters: Vec<Role>,
    /// Roles that read every section's operation history and ledgers without asking.
    pub record_readers: Vec<Role>,
    /// The role that approves a request to read records (another section's; with
    /// `own_section_needs_approval`, one's own too).
    pub view_approver: Role,
    /// 002 §7(11): reading one's own section's records needs approval too.
    pub own_section_needs_approval: bool,
    /// The role that approves terminal use outside office hours or on closed days (002 §5-2).
    pub off_hours_approver: Role,
    /// Keeps the storage media: records their return and disposal (003 §11(2), (5); 002 §6④(6); 001 §8(2), §9).
    /// The system administrator may record them too (it records faults, 003 §11(6)).
    pub media_custodian: Role,
    /// Every role whose consent a medium taken out of the office needs (003 §11(3): the data manager and the
    /// system administrator); the take-out is recorded as out once each has consented.
    pub media_takeout_consent: Vec<Role>,
}

impl Default for Regulation {
    fn default() -> Self {
        Preset::Sendai.regulation()
    }
}

impl Regulation {
    /// The role whose grants count at this level: a grant issued in another role is refused at the door.
    pub fn issuer(&self, level: Level) -> Role {
        match level {
            Level::L1 => self.level1_issuer,
            Level::L2 => self.level2_issuer,
            Level::L3 => self.level3_issuer,
        }
    }
}

/// Roles that can never hold an administrative authority (a plain user issuing grants would bypass every rule).
pub const NOT_AN_AUTHORITY: [Role; 3] = [Role::Operator, Role::Vendor, Role::Viewer];

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    #[test]
    fn sendai_is_the_default_and_keeps_the_rules_of_003() {
        let r = Regulation::default();
        assert_eq!(r.preset, Preset::Sendai);
        // 003 §13(2): L1 system administrator, L2 data manager, L3 security director.
        assert_eq!(r.issuer(Level::L1), SystemAdministrator);
        assert_eq!(r.issuer(Level::L2), DataManager);
        assert_eq!(r.issuer(Level::L3), SecurityDirector);
        for l in [Level::L1, Level::L2, Level::L3] {
            assert_eq!(r.issuer(l), l.required_issuer(), "Level::required_issuer is Sendai's rule");
        }
        // 003 §7(3): site administrators request, the system administrator approves.
        assert_eq!(r.operator_designator, SystemAdministrator);
        assert_eq!(r.operator_requesters, vec![SiteAdministrator]);
        assert!(!r.own_section_needs_approval);
    }

    #[test]
    fn presets_parse_by_name() {
        for p in Preset::ALL {
            assert_eq!(p.as_str().parse::<Preset>(), Ok(p));
            assert_eq!(p.regulation().preset, p);
        }
        assert!("sendai-city".parse::<Preset>().is_err());
    }

    #[test]
    fn no_preset_makes_a_plain_user_an_authority() {
        for p in Preset::ALL {
            let r = p.regulation();
            let mut auth = vec![r.level1_issuer, r.level2_issuer, r.level3_issuer, r.operator_designator];
            auth.extend([r.view_approver, r.off_hours_approver, r.media_custodian]);
            auth.extend(r.operator_requesters.iter().chain(&r.record_readers).chain(&r.media_takeout_consent));
            assert!(auth.iter().all(|a| !NOT_AN_AUTHORITY.contains(a)), "{p}");
        }
    }
}
