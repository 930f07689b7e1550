//! A minimal reader of usbmon captures in pcapng (what `umockdev-record` and Wireshark write): enough to
//! list the URBs of a recording, so the image decoder is tested on recorded traffic without USB, and a new
//! driver can be studied from its recording. Every length is checked; a malformed file is an error.

/// One usbmon record: a submission (`S`) or a completion (`C`) of an URB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urb {
    pub id: u64,
    /// b'S' submit, b'C' complete, b'E' error.
    pub event: u8,
    /// 0 isochronous, 1 interrupt, 2 control, 3 bulk.
    pub xfer: u8,
    /// Endpoint with the direction bit (0x80 = IN).
    pub endpoint: u8,
    pub status: i32,
    /// The URB's length (requested, or transferred on completion).
    pub length: u32,
    /// Control setup packet, when present.
    pub setup: Option<[u8; 8]>,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed pcapng at byte {offset}: {what}")]
pub struct PcapError {
    pub offset: usize,
    pub what: &'static str,
}

fn u32_at(d: &[u8], o: usize, le: bool) -> Option<u32> {
    let b: [u8; 4] = d.get(o..o + 4)?.try_into().ok()?;
    Some(if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
}

/// Parses every usbmon record of a pcapng file (link types 220 and 189).
pub fn read_usbmon(d: &[u8]) -> Result<Vec<Urb>, PcapError> {
    let err = |offset, what| PcapError { offset, what };
    let mut out = Vec::new();
    let mut o = 0usize;
    let mut le = true;
    let mut linktypes: Vec<u16> = Vec::new();
    while o < d.len() {
        let bt_raw = d.get(o..o + 4).ok_or(err(o, "truncated block type"))?;
        if bt_raw == [0x0a, 0x0d, 0x0d, 0x0a] {
            let magic = d.get(o + 8..o + 12).ok_or(err(o, "truncated section header"))?;
            le = magic == [0x4d, 0x3c, 0x2b, 0x1a];
            if !le && magic != [0x1a, 0x2b, 0x3c, 0x4d] {
                return Err(err(o, "bad byte-order magic"));
            }
            linktypes.clear();
        }
        let bt = u32_at(d, o, le).ok_or(err(o, "truncated block type"))?;
        let len = u32_at(d, o + 4, le).ok_or(err(o, "truncated block length"))? as usize;
        if len < 12 || !len.is_multiple_of(4) || o + len > d.len() {
            return Err(err(o, "bad block length"));
        }
        let body = &d[o + 8..o + len - 4];
        match bt {
            1 => {
                let lt = body.get(0..2).ok_or(err(o, "truncated interface block"))?;
                linktypes.push(if le {
                    u16::from_le_bytes([lt[0], lt[1]])
                } else {
                    u16::from_be_bytes([lt[0], lt[1]])
                });
            }
            6 => {
                let iface = u32_at(body, 0, le).ok_or(err(o, "truncated packet block"))? as usize;
                let cap = u32_at(body, 12, le).ok_or(err(o, "truncated packet block"))? as usize;
                let pkt = body.get(20..20 + cap).ok_or(err(o, "packet longer than its block"))?;
                let hdr = match linktypes.get(iface) {
                    Some(220) => 64,
                    Some(189) => 48,
                    _ => return Err(err(o, "packet on an interface that is not usbmon")),
                };
                if pkt.len() < hdr {
                    return Err(err(o, "usbmon header truncated"));
                }
                let u64le = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                let len_cap = u32::from_le_bytes(pkt[36..40].try_into().unwrap_or([0; 4])) as usize;
                let data = pkt.get(hdr..hdr + len_cap.min(pkt.len() - hdr)).unwrap_or(&[]).to_vec();
                out.push(Urb {
                    id: u64le(&pkt[0..8]),
                    event: pkt[8],
                    xfer: pkt[9],
                    endpoint: pkt[10],
                    status: i32::from_le_bytes(pkt[28..32].try_into().unwrap_or([0; 4])),
                    length: u32::from_le_bytes(pkt[32..36].try_into().unwrap_or([0; 4])),
                    setup: (pkt[14] == 0).then(|| pkt[40..48].try_into().unwrap_or([0; 8])),
                    data,
                });
            }
            _ => {}
        }
        o += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(d in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = read_usbmon(&d);
        }
    }
}
