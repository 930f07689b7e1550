//! Short grant ids as people read and type them (issue 22 "Readable output"): `G-0345` rather than
//! `g-1796410296959645`.
//!
//! A grant is the one record that several nodes create independently and that then travels between them
//! keyed by its id (`grant.upsert` and `grant.revoke` through the centre): a per-node counter alone would
//! give two nodes the same `G-0001`. So the id carries the node that numbered it when the site has more
//! than one:
//!
//! - a single-node site (no `[central]`): `G-0345`;
//! - a node of a multi-node site: `G-kita-shisho-0345` — the node's own `[site] id`, whole.
//!
//! Why the whole node id and not an abbreviation or a hash: it is the one name of a node that is already
//! unique in the city (the centre registers nodes by it, `tobira-central register-node`, and every audit
//! event carries it), so no two nodes can number into the same id, and an administrator reads at once
//! where a grant was issued. An abbreviation (`KS`) could collide between `kita-shisho` and
//! `kita-shiyakusho`; a hash could not be read. The node id of a multi-node site is therefore held to
//! lowercase ASCII letters, digits and `-` ([`valid_tag`]), which the site file check enforces.
//!
//! The number is the node's own counter (one per registry store), taken when the grant is issued or its
//! request filed, so a rejected request leaves a gap rather than a reused number. Ids issued before this
//! (`g-1796410296959645`) stay as they are: stored, shown and accepted unchanged.
//!
//! Typed ids are accepted as people type them: in either case and without leading zeros (`g-345`,
//! `G-KITA-SHISHO-345`), like request ids (`R-0012`).

/// How many digits a short number may have when typed (`G-000000345` is still 345).
const MAX_SHORT_DIGITS: usize = 9;
/// The old ids were `g-` and the issuing instant in microseconds since 1970: at least 13 digits since 2001.
const MIN_OLD_DIGITS: usize = 13;

/// The stored form of grant number `n` issued by the node tagged `tag` (`None` on a single-node site).
pub fn format(tag: Option<&str>, n: u64) -> String {
    match tag {
        Some(t) => format!("G-{t}-{n:04}"),
        None => format!("G-{n:04}"),
    }
}

/// Whether a node id can tag grant ids: 1–32 lowercase ASCII letters, digits and `-`, not at either end
/// (so `G-{tag}-{n}` splits back at its last `-` and reads the same in any case).
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 32
        && !tag.starts_with('-')
        && !tag.ends_with('-')
        && tag.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A grant id as typed, in its stored form: `g-345` → `G-0345`, `G-Kita-Shisho-7` → `G-kita-shisho-0007`,
/// `G-1796410296959645` → `g-1796410296959645` (an old id, in either case). `None` for text that is no
/// grant id of either form, which the caller looks up as it is (and will not find).
pub fn canonical(text: &str) -> Option<String> {
    let text = text.trim();
    let rest = text.strip_prefix("G-").or_else(|| text.strip_prefix("g-"))?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match rest.rsplit_once('-') {
        Some((tag, n)) => {
            let tag = tag.to_ascii_lowercase();
            if !valid_tag(&tag) || !digits(n) || n.len() > MAX_SHORT_DIGITS {
                return None;
            }
            Some(format(Some(&tag), n.parse().ok()?))
        }
        None if digits(rest) && rest.len() <= MAX_SHORT_DIGITS => Some(format(None, rest.parse().ok()?)),
        None if digits(rest) && rest.len() >= MIN_OLD_DIGITS => Some(format!("g-{rest}")),
        None => None,
    }
}

/// Whether a stored id is short and untagged (`G-0345`): on a multi-node site people may type their own
/// node's grants that way, and the daemon also tries the id with its own tag.
pub fn untagged_number(stored: &str) -> Option<u64> {
    let n = stored.strip_prefix("G-")?;
    if n.contains('-') {
        return None;
    }
    n.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_formatted_with_four_digits_and_the_node_on_a_multi_node_site() {
        assert_eq!(format(None, 1), "G-0001");
        assert_eq!(format(None, 345), "G-0345");
        assert_eq!(format(None, 12345), "G-12345", "a busy site outgrows four digits without wrapping");
        assert_eq!(format(Some("kita-shisho"), 345), "G-kita-shisho-0345");
    }

    #[test]
    fn typed_ids_are_accepted_in_either_case_and_without_leading_zeros() {
        assert_eq!(canonical("G-0001").as_deref(), Some("G-0001"));
        assert_eq!(canonical("g-1").as_deref(), Some("G-0001"));
        assert_eq!(canonical(" G-345 ").as_deref(), Some("G-0345"));
        assert_eq!(canonical("g-kita-shisho-7").as_deref(), Some("G-kita-shisho-0007"));
        assert_eq!(canonical("G-KITA-SHISHO-0007").as_deref(), Some("G-kita-shisho-0007"));
        assert_eq!(canonical("G-shisho-2-0003").as_deref(), Some("G-shisho-2-0003"), "a tag may end in a digit");
        assert_eq!(canonical("G-2-3").as_deref(), Some("G-2-0003"));
    }

    #[test]
    fn old_long_ids_are_kept_as_stored_and_accepted_in_either_case() {
        assert_eq!(canonical("g-1796410296959645").as_deref(), Some("g-1796410296959645"));
        assert_eq!(canonical("G-1796410296959645").as_deref(), Some("g-1796410296959645"));
    }

    #[test]
    fn anything_else_is_no_grant_id() {
        for t in ["G-", "g-", "G--1", "G-kita--", "G-abc", "tanaka", "R-0012", "G-1234567890", "G-x_y-1", "G-1-"] {
            assert_eq!(canonical(t), None, "{t}");
        }
    }

    #[test]
    fn formatting_and_parsing_agree_for_every_form() {
        for tag in [None, Some("honcho"), Some("kita-shisho"), Some("a1-2")] {
            for n in [1, 9, 10, 999, 1000, 9999, 10000, 123_456_789] {
                let id = format(tag, n);
                assert_eq!(canonical(&id).as_deref(), Some(id.as_str()));
                assert_eq!(canonical(&id.to_lowercase()).as_deref(), Some(id.as_str()));
                assert_eq!(untagged_number(&id), if tag.is_none() { Some(n) } else { None });
            }
        }
    }

    #[test]
    fn node_tags_are_lowercase_ascii_words() {
        assert!(valid_tag("kita-shisho"));
        assert!(valid_tag("honcho2"));
        for t in ["", "-a", "a-", "Kita", "北支所", "a b", "a_b", "a.b", &"a".repeat(33)] {
            assert!(!valid_tag(t), "{t}");
        }
    }
}
