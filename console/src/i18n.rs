//! Japanese first, English switchable (issue 18). Texts are written in pairs at the place they are used, so a
//! page reads as it renders; the regulations' terms are the forms' own (照合情報, 拠点管理者, 入退室管理簿).

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    /// The text in this language.
    pub fn t(self, ja: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }

    pub fn code(self) -> &'static str {
        self.t("ja", "en")
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }
}

/// A role's name as the regulations write it, with the daemon's word in English.
pub fn role(l: Lang, r: &str) -> String {
    let ja = match r {
        "security-director" => "統括責任者",
        "data-manager" => "本人確認情報管理責任者",
        "system-administrator" => "システム管理者",
        "security-manager" => "セキュリティ管理者",
        "site-administrator" => "拠点管理者",
        "operator" => "操作者",
        "vendor" => "保守業者",
        "viewer" => "閲覧者",
        other => return other.to_string(),
    };
    match l {
        Lang::Ja => ja.to_string(),
        Lang::En => format!("{r} ({ja})"),
    }
}

/// A request's kind as the regulations' forms name it (003 §7(3): 照合情報を新規登録、削除及び委託する操作権限の
/// 追加並びに委託した操作権限の返却; 002 §7(11) for another section's records), English in the English view
/// with the form's term beside it. An unknown kind shows as the daemon wrote it.
pub fn request_kind(l: Lang, k: &str) -> String {
    let (ja, en) = match k {
        "enroll" => ("照合情報の新規登録", "enrolment"),
        // 000 §8(2): the operator no longer works the terminals (異動・退職): grants revoked, templates erased.
        "delete-person" => ("照合情報の削除（異動・退職）", "removal on transfer or leaving"),
        "grant" => ("操作権限の委託（追加）", "delegation of an access right"),
        "revoke" => ("委託した操作権限の返却", "return of a delegated access right"),
        "view-records" => ("他課の記録の閲覧", "viewing another section's records"),
        other => return other.to_string(),
    };
    match l {
        Lang::Ja => ja.to_string(),
        Lang::En => format!("{en} ({ja})"),
    }
}

/// A request's status (申請の状態).
pub fn request_status(l: Lang, s: &str) -> String {
    let (ja, en) = match s {
        "pending" => ("承認待ち", "pending"),
        "approved" => ("承認済（実施前）", "approved, not yet applied"),
        "applied" => ("承認・実施済", "approved and applied"),
        "rejected" => ("却下", "rejected"),
        "withdrawn" => ("取下げ", "withdrawn"),
        other => return other.to_string(),
    };
    l.t(ja, en).to_string()
}

/// Column headings for the fields of the daemon's answers.
pub fn field(l: Lang, k: &str) -> String {
    let (ja, en) = match k {
        "id" => ("ID", "ID"),
        "name" => ("氏名", "name"),
        "affiliation" => ("所属", "section"),
        "roles" => ("役割", "roles"),
        "appointment_end" => ("任期満了日", "appointment end"),
        "active" => ("在籍", "active"),
        "kind" => ("種別", "kind"),
        "subject" => ("対象", "subject"),
        "requested_by" => ("申請者", "requested by"),
        "requested_at" => ("申請日時", "requested at"),
        "status" => ("状態", "status"),
        "decided_by" => ("決裁者", "decided by"),
        "decided_at" => ("決裁日時", "decided at"),
        "note" => ("備考", "note"),
        "place" => ("場所・端末", "place"),
        "reason" => ("理由", "reason"),
        "raised_at" => ("発生日時", "raised at"),
        "acked_at" => ("確認日時", "acknowledged at"),
        "acked_by" => ("確認者", "acknowledged by"),
        "holder" => ("付与対象者", "holder"),
        "level" => ("レベル", "level"),
        "issuer" => ("付与者", "issued by"),
        "issued_by" => ("付与者", "issued by"),
        "from" => ("開始", "from"),
        "until" => ("終了", "until"),
        "schedule" => ("時間帯", "schedule"),
        "time" => ("日時", "time"),
        "actor" => ("操作者", "actor"),
        "outcome" => ("結果", "outcome"),
        "article" => ("根拠条項", "article"),
        "seq" => ("連番", "seq"),
        _ => return k.to_string(),
    };
    l.t(ja, en).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_kinds_read_as_the_forms_name_them() {
        assert_eq!(request_kind(Lang::Ja, "delete-person"), "照合情報の削除（異動・退職）");
        assert_eq!(request_kind(Lang::Ja, "enroll"), "照合情報の新規登録");
        assert_eq!(request_kind(Lang::En, "enroll"), "enrolment (照合情報の新規登録)");
        assert_eq!(request_kind(Lang::En, "revoke"), "return of a delegated access right (委託した操作権限の返却)");
        assert_eq!(request_kind(Lang::Ja, "view-records"), "他課の記録の閲覧");
        assert_eq!(request_kind(Lang::Ja, "something-new"), "something-new", "unknown kinds as the daemon wrote them");
        assert_eq!(request_status(Lang::Ja, "pending"), "承認待ち");
        assert_eq!(request_status(Lang::En, "applied"), "approved and applied");
    }
}
