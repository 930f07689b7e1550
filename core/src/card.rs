//! Card numbers and keypad IDs at a `card+biometric` door (issue 16 §2; 004 §2(9): "two-factor = user ID +
//! biometric"). Pure: the OSDP driver hands over the bytes, this module says which number they are.
//!
//! A card and an ID typed on the reader's keypad are one namespace: the number printed on the card, in
//! decimal, leading zeros dropped. So a person who forgot their card types its number and `#`. Neither is a
//! secret — the number is printed on the card and a 26-bit Wiegand space is enumerable — so the card only
//! *claims* who is at the door; the finger, compared 1:1 with that person's templates, authenticates.
//!
//! The number is never written in clear outside the registry's hash: [`CardNumber::last_digits`] is what
//! audit events, ledgers and messages show.

use std::fmt;

/// The most digits a card or keypad ID may have: a 64-bit card number has 20.
pub const MAX_DIGITS: usize = 20;

/// A card number or keypad ID, canonical: decimal digits, no leading zeros ("0" for zero).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CardNumber(String);

/// Why a card read or a typed number is not a card number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    #[error("a card number is 1 to {MAX_DIGITS} decimal digits")]
    NotDigits,
    #[error("a card read of {bits} bits in {bytes} bytes: tobira reads cards of 1 to 64 bits")]
    Unreadable { bits: u16, bytes: usize },
}

impl CardNumber {
    /// A number as an administrator types it (`tobira card add PERSON CARD`) or a keypad sends it.
    pub fn parse(s: &str) -> Result<CardNumber, CardError> {
        let s = s.trim();
        if s.is_empty() || s.len() > MAX_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError::NotDigits);
        }
        let t = s.trim_start_matches('0');
        Ok(CardNumber(if t.is_empty() { "0".into() } else { t.into() }))
    }

    /// A card read: the first `bits` bits of `data`, most significant first (OSDP osdp_RAW), as one
    /// unsigned number. Cards longer than 64 bits are refused rather than truncated into someone else's.
    pub fn from_read(bits: u16, data: &[u8]) -> Result<CardNumber, CardError> {
        let unreadable = CardError::Unreadable { bits, bytes: data.len() };
        if bits == 0 || bits > 64 || usize::from(bits) > data.len() * 8 {
            return Err(unreadable);
        }
        let mut v: u128 = 0;
        for b in data.iter().take(usize::from(bits).div_ceil(8)) {
            v = (v << 8) | u128::from(*b);
        }
        let used = usize::from(bits).div_ceil(8) * 8;
        v >>= used - usize::from(bits);
        Ok(CardNumber(v.to_string()))
    }

    /// The canonical digits, for the registry's hash only: never log or print them.
    pub fn danger_digits(&self) -> &str {
        &self.0
    }

    /// The last four digits (fewer for a shorter number), masked: what audit events and messages show.
    pub fn last_digits(&self) -> String {
        let n = self.0.len();
        format!("…{}", &self.0[n.saturating_sub(4)..])
    }
}

/// Never prints the number.
impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber({})", self.last_digits())
    }
}

/// The keys typed at one reader's keypad, up to `#` (osdp_KEYPAD sends ASCII; `#` is 0x0D and `*` 0x7F).
/// `*` clears what was typed; a non-digit or too many digits discards the entry.
#[derive(Debug, Default, Clone)]
pub struct Keypad {
    typed: String,
    spoiled: bool,
}

impl Keypad {
    /// Takes a keypad event's keys; returns each ID completed by `#` (an empty `#` or a spoiled entry yields
    /// `Err`, which the door refuses like an unknown card).
    pub fn handle_keys(&mut self, keys: &[u8]) -> Vec<Result<CardNumber, CardError>> {
        let mut done = Vec::new();
        for &k in keys {
            match k {
                0x0D | b'#' => {
                    let typed = std::mem::take(&mut self.typed);
                    if std::mem::take(&mut self.spoiled) {
                        done.push(Err(CardError::NotDigits));
                    } else {
                        done.push(CardNumber::parse(&typed));
                    }
                }
                0x7F | b'*' => {
                    self.typed.clear();
                    self.spoiled = false;
                }
                b'0'..=b'9' if self.typed.len() < MAX_DIGITS => self.typed.push(char::from(k)),
                _ => self.spoiled = true,
            }
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_read_and_the_typed_number_are_the_same_card() {
        // 0x00BC614E = 12,345,678 in 32 bits.
        let read = CardNumber::from_read(32, &[0x00, 0xBC, 0x61, 0x4E]).unwrap();
        assert_eq!(read, CardNumber::parse("12345678").unwrap());
        assert_eq!(read, CardNumber::parse("0012345678").unwrap(), "leading zeros are not part of the number");
        let mut k = Keypad::default();
        assert_eq!(k.handle_keys(b"1234"), vec![]);
        assert_eq!(k.handle_keys(&[b'5', b'6', b'7', b'8', 0x0D]), vec![Ok(read)]);
    }

    #[test]
    fn only_the_read_bits_count() {
        // A 26-bit Wiegand read in 4 bytes, left-aligned: the 6 padding bits are not part of the number.
        let n = CardNumber::from_read(26, &[0xFF, 0xFF, 0xFF, 0xC0]).unwrap();
        assert_eq!(n.danger_digits(), ((1u64 << 26) - 1).to_string());
        assert!(CardNumber::from_read(65, &[0xFF; 9]).is_err(), "longer than 64 bits: refused, not truncated");
        assert!(CardNumber::from_read(32, &[0xFF; 3]).is_err(), "fewer bytes than bits");
        assert!(CardNumber::from_read(0, &[]).is_err());
    }

    #[test]
    fn the_number_is_masked_wherever_it_is_shown() {
        let n = CardNumber::parse("12345678").unwrap();
        assert_eq!(n.last_digits(), "…5678");
        assert!(!format!("{n:?}").contains("1234"), "{n:?}");
        assert_eq!(CardNumber::parse("42").unwrap().last_digits(), "…42");
    }

    #[test]
    fn the_keypad_clears_and_spoils() {
        let mut k = Keypad::default();
        assert_eq!(k.handle_keys(b"99*12#"), vec![CardNumber::parse("12")], "* clears");
        assert_eq!(k.handle_keys(b"1a2#"), vec![Err(CardError::NotDigits)], "a stray key spoils the entry");
        assert_eq!(k.handle_keys(b"#"), vec![Err(CardError::NotDigits)], "an empty entry is no ID");
        assert_eq!(k.handle_keys(b"7#"), vec![CardNumber::parse("7")], "the next entry starts clean");
        assert!(CardNumber::parse("123456789012345678901").is_err(), "21 digits");
        assert!(CardNumber::parse("12 34").is_err());
    }
}
