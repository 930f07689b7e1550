//! What a person waiting at a reader is told (issue 22 §4): who, where, finger or palm, which sample of how
//! many, and how long they have. One wording for PAM, the CLI and the reader's display.

use tobira_drivers::Modality;

/// `"tanaka: place your finger on t01-reader (1/3), 15 s"`; `finger` names the position when known.
pub fn capture(
    person: &str,
    reader: &str,
    modality: Modality,
    finger: Option<u8>,
    n: u32,
    of: u32,
    secs: u64,
) -> String {
    let what = match (modality, finger) {
        (Modality::Palm, _) => "hold your palm (手のひら静脈) over".to_string(),
        (Modality::Finger, Some(f)) => format!("place your finger {f} on"),
        (Modality::Finger, None) => "place your finger on".to_string(),
    };
    format!("{person}: {what} {reader} ({n}/{of}), {secs} s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_names_the_person_reader_part_count_and_time() {
        assert_eq!(
            capture("takahashi", "t01-reader", Modality::Finger, None, 1, 3, 15),
            "takahashi: place your finger on t01-reader (1/3), 15 s"
        );
        assert_eq!(
            capture("ito", "t03-palm", Modality::Palm, None, 2, 3, 10),
            "ito: hold your palm (手のひら静脈) over t03-palm (2/3), 10 s"
        );
        assert!(capture("a", "r", Modality::Finger, Some(2), 1, 1, 5).contains("finger 2 on r (1/1), 5 s"));
    }
}
