//! Storage media and devices: what a vendor brings into the server room and takes out again (000 §7(2)),
//! and the consents a medium taken out of the office needs (003 §11(3)). Plain functions over lists; the
//! daemon records the declarations and the register, the ledgers flag what these functions find.

use crate::roles::Role;

/// What a visit's declarations say against what was approved (000 §7(2): nothing but what the server room
/// needs is brought in). Each list is in the order first met.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaCheck {
    /// Declared at entry, but not among the devices and media the visit was approved to bring in.
    pub unapproved: Vec<String>,
    /// Declared at entry, not at exit: left behind inside, or taken out undeclared.
    pub not_taken_out: Vec<String>,
    /// Declared at exit, never at entry: something leaving that did not come in — the case 000 §7(2) and
    /// 003 §11(3) exist for.
    pub not_brought_in: Vec<String>,
}

impl MediaCheck {
    /// Nothing to flag.
    pub fn is_clean(&self) -> bool {
        self.unapproved.is_empty() && self.not_taken_out.is_empty() && self.not_brought_in.is_empty()
    }

    /// The findings in the words of the entry/exit ledger's 備考 column.
    pub fn notes_ja(&self) -> Vec<String> {
        let list = |v: &[String]| v.join("、");
        let mut out = Vec::new();
        if !self.unapproved.is_empty() {
            out.push(format!("未承認の持込: {} (000 §7(2))", list(&self.unapproved)));
        }
        if !self.not_taken_out.is_empty() {
            out.push(format!("持込のみ・持出なし: {}", list(&self.not_taken_out)));
        }
        if !self.not_brought_in.is_empty() {
            out.push(format!("持込なし・持出あり: {}", list(&self.not_brought_in)));
        }
        out
    }
}

/// One item as compared: surrounding blanks do not make two items differ.
fn norm(s: &str) -> String {
    s.trim().to_string()
}

/// `a` less `b`, counting repeats (two USB sticks in, one out: one not taken out).
fn minus(a: &[String], b: &[String]) -> Vec<String> {
    let mut left: Vec<String> = b.iter().map(|x| norm(x)).collect();
    let mut out = Vec::new();
    for x in a {
        let k = norm(x);
        if k.is_empty() {
            continue;
        }
        match left.iter().position(|y| *y == k) {
            Some(i) => {
                left.swap_remove(i);
            }
            None => out.push(k),
        }
    }
    out
}

/// Compares the declarations with the approval. `declared_out` is `None` until the exit declaration is
/// made: then nothing is missing yet, only the unapproved items count.
pub fn check_visit_media(allowed: &[String], declared_in: &[String], declared_out: Option<&[String]>) -> MediaCheck {
    let mut unapproved = Vec::new();
    for x in declared_in {
        let k = norm(x);
        if !k.is_empty() && !allowed.iter().any(|a| norm(a) == k) && !unapproved.contains(&k) {
            unapproved.push(k);
        }
    }
    match declared_out {
        None => MediaCheck { unapproved, ..Default::default() },
        Some(out) => {
            MediaCheck { unapproved, not_taken_out: minus(declared_in, out), not_brought_in: minus(out, declared_in) }
        }
    }
}

/// The roles of `required` whose consent is still missing, given the roles each consenting person held when
/// they consented (003 §11(3): a medium leaves only with the consent of the data manager and the system
/// administrator). One person holding two of the roles gives both.
pub fn consents_missing(required: &[Role], consents: &[Vec<Role>]) -> Vec<Role> {
    required.iter().copied().filter(|r| !consents.iter().any(|c| c.contains(r))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// 000 §7(2): what came in unapproved, what stayed behind, what left without having come in.
    #[test]
    fn art_000_7_2_media_declared_at_entry_and_exit_are_compared() {
        let allowed = v(&["保守用ノートPC"]);
        let c = check_visit_media(&allowed, &v(&["保守用ノートPC", "USBメモリ"]), None);
        assert_eq!(c.unapproved, v(&["USBメモリ"]));
        assert!(c.not_taken_out.is_empty(), "no exit declaration yet: nothing is missing");
        let c =
            check_visit_media(&allowed, &v(&["保守用ノートPC", "USBメモリ"]), Some(&v(&["保守用ノートPC", "DVD-R"])));
        assert_eq!(c.not_taken_out, v(&["USBメモリ"]));
        assert_eq!(c.not_brought_in, v(&["DVD-R"]));
        assert_eq!(
            c.notes_ja(),
            v(&["未承認の持込: USBメモリ (000 §7(2))", "持込のみ・持出なし: USBメモリ", "持込なし・持出あり: DVD-R"])
        );
        let same = check_visit_media(&allowed, &v(&["保守用ノートPC"]), Some(&v(&[" 保守用ノートPC "])));
        assert!(same.is_clean(), "{same:?}");
        let twice = check_visit_media(&v(&["USB"]), &v(&["USB", "USB"]), Some(&v(&["USB"])));
        assert_eq!(twice.not_taken_out, v(&["USB"]), "repeats count");
    }

    /// 003 §11(3): the data manager's and the system administrator's consent, by one person or two; 001 §8(2)
    /// (Kurume's profile): the protection officer's record alone.
    #[test]
    fn art_003_11_3_a_take_out_needs_both_consents() {
        use Role::*;
        let sendai = [DataManager, SystemAdministrator];
        assert_eq!(consents_missing(&sendai, &[]), sendai.to_vec());
        assert_eq!(consents_missing(&sendai, &[vec![DataManager, Operator]]), vec![SystemAdministrator]);
        assert!(consents_missing(&sendai, &[vec![DataManager], vec![SystemAdministrator]]).is_empty());
        assert!(consents_missing(&sendai, &[vec![SystemAdministrator, DataManager]]).is_empty());
        assert!(consents_missing(&[SecurityManager], &[vec![SecurityManager]]).is_empty());
    }

    proptest! {
        /// Whatever is declared: an item is flagged as not taken out exactly as often as it came in more
        /// often than it left, and the other way round.
        #[test]
        fn the_difference_counts_each_item(inn in proptest::collection::vec(0u8..4, 0..6), out in proptest::collection::vec(0u8..4, 0..6)) {
            let name = |i: &u8| format!("m{i}");
            let (i, o): (Vec<String>, Vec<String>) = (inn.iter().map(name).collect(), out.iter().map(name).collect());
            let c = check_visit_media(&i, &i, Some(&o));
            prop_assert!(c.unapproved.is_empty());
            for k in 0u8..4 {
                let (a, b) = (inn.iter().filter(|x| **x == k).count(), out.iter().filter(|x| **x == k).count());
                let n = name(&k);
                prop_assert_eq!(c.not_taken_out.iter().filter(|x| **x == n).count(), a.saturating_sub(b));
                prop_assert_eq!(c.not_brought_in.iter().filter(|x| **x == n).count(), b.saturating_sub(a));
            }
        }
    }
}
