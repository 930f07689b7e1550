//! The module's side of the protocol, for the simulator: a pure state machine that answers command packets
//! as an R307/ZFM-20 does (R30x.md §2–§5). It is at least as strict as the real module: a packet with a bad
//! checksum or length gets `01 receive error` (configurable to silence, R30x.md §7), an unknown command gets
//! `01`, and nothing but VfyPwd runs until a set password has been verified.

use super::command::{Command, ConfirmationCode};
use super::image::{IMAGE_BYTES_4BPP, IMAGE_HEIGHT, IMAGE_WIDTH};
use super::packet::{Decoder, Fault, Pid, encode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleConfig {
    pub address: u32,
    /// 0 = no password check (R30x.md §2: "Password 0 needs no check").
    pub password: u32,
    /// Data packet size code 0..=3 (32..256 bytes); factory 2 (128).
    pub packet_size_code: u8,
    pub capacity: u16,
    /// Answer a garbled packet with `01 receive error` (true) or stay silent (false).
    pub answer_garbage: bool,
    /// The baud register N (9600×N) stored in flash at power-up; factory 6, 57,600 (R30x.md §1).
    pub baud_n: u8,
    /// When a SetSysPara of the baud register takes effect on the line.
    pub baud_change: BaudChange,
}

/// When a module starts speaking at the rate SetSysPara stored (R30x.md §6: "acked under the old settings,
/// then saved to flash"; modules differ in when the line follows — FPM's example: "may or may not work,
/// module restart may still be required").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BaudChange {
    /// Right after the acknowledgement, which still leaves at the old rate.
    #[default]
    AfterAck,
    /// Only at the next power-up (ZFM manual: "effective next start-up"; R503: after a power cycle).
    AtPowerUp,
}

impl Default for ModuleConfig {
    fn default() -> Self {
        Self {
            address: super::DEFAULT_ADDRESS,
            password: 0,
            packet_size_code: 2,
            capacity: 200,
            answer_garbage: true,
            baud_n: 6,
            baud_change: BaudChange::AfterAck,
        }
    }
}

/// LED state the simulator shows (Aura ring on R50x).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Led {
    pub control: u8,
    pub colour: u8,
}

pub struct Module {
    cfg: ModuleConfig,
    decoder: Decoder,
    out: Vec<u8>,
    verified: bool,
    /// The finger on the glass, as a 256×288 8-bit image; `None` when nobody touches the sensor.
    finger: Option<Vec<u8>>,
    /// Touches queued by the simulator: each is one placement of a finger, captured by one GenImg.
    touches: std::collections::VecDeque<Vec<u8>>,
    /// A touch was captured and the finger is still on the glass: the next GenImg finds it lifted.
    lifting: bool,
    /// The image buffer after a successful GenImg.
    image: Option<Vec<u8>>,
    pub led: Led,
    pub faults: u64,
    /// The baud register as stored (what ReadSysPara reports).
    baud_n: u8,
    /// The rate the module's UART runs at now, 9600×N.
    line_n: u8,
}

impl Module {
    pub fn new(cfg: ModuleConfig) -> Self {
        let baud_n = cfg.baud_n.clamp(1, 12);
        Self {
            decoder: Decoder::new(cfg.address),
            cfg,
            out: Vec::new(),
            verified: false,
            finger: None,
            touches: Default::default(),
            lifting: false,
            image: None,
            led: Led::default(),
            faults: 0,
            baud_n,
            line_n: baud_n,
        }
    }

    /// The line rate the module's UART runs at now (bits per second, 8N1). A host at another rate hears
    /// noise and is heard as noise.
    pub fn line_rate(&self) -> u32 {
        9600 * u32::from(self.line_n)
    }

    /// Power off and on: the stored baud register takes effect, the password must be verified again, the
    /// image buffer is empty and the finger lifted.
    pub fn power_cycle(&mut self) {
        self.line_n = self.baud_n;
        self.verified = false;
        self.image = None;
        self.lifting = false;
        self.decoder = Decoder::new(self.cfg.address);
        self.out.clear();
    }

    /// A finger is placed (an 8-bit 256×288 image) or lifted (`None`).
    pub fn set_finger(&mut self, image: Option<Vec<u8>>) {
        self.finger = image.filter(|i| i.len() == IMAGE_WIDTH * IMAGE_HEIGHT);
    }

    /// A person touches the sensor once with this 8-bit 256×288 image: the next GenImg captures it, and the
    /// one after finds the finger lifted (so the host's "wait until the finger leaves" sees one touch as one
    /// sample). Touches queue up in order; an image of the wrong size is refused (returns false).
    pub fn touch(&mut self, image: Vec<u8>) -> bool {
        if image.len() != IMAGE_WIDTH * IMAGE_HEIGHT {
            return false;
        }
        self.touches.push_back(image);
        true
    }

    /// Touches not captured yet.
    pub fn pending_touches(&self) -> usize {
        self.touches.len()
    }

    /// Whether a touch has been captured but the host has not polled since (so it may still be uploading or
    /// handing the image on).
    pub fn touch_in_flight(&self) -> bool {
        self.lifting
    }

    /// The person steps away: touches not captured yet are dropped; returns how many.
    pub fn clear_touches(&mut self) -> usize {
        std::mem::take(&mut self.touches).len()
    }

    pub fn handle_input(&mut self, bytes: &[u8]) {
        self.decoder.handle_input(bytes);
        while let Some(r) = self.decoder.poll_packet() {
            match r {
                Ok(p) if p.pid == Pid::Command => self.command(&p.payload),
                Ok(_) => {} // data from the host: DownChar/DownImage are not simulated
                Err(Fault::Garbage { .. }) | Err(Fault::WrongAddress(_)) => self.faults += 1,
                Err(_) => {
                    self.faults += 1;
                    if self.cfg.answer_garbage {
                        self.ack(ConfirmationCode::ReceiveError, &[]);
                    }
                }
            }
        }
    }

    /// Bytes to write to the line.
    pub fn poll_transmit(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    fn ack(&mut self, code: ConfirmationCode, data: &[u8]) {
        let mut p = vec![code.byte()];
        p.extend_from_slice(data);
        self.out.extend(encode(self.cfg.address, Pid::Ack, &p));
    }

    fn command(&mut self, payload: &[u8]) {
        let Some(cmd) = Command::parse(payload) else {
            return self.ack(ConfirmationCode::ReceiveError, &[]);
        };
        let locked = self.cfg.password != 0 && !self.verified;
        match cmd {
            Command::VfyPwd(p) => {
                self.verified = p == self.cfg.password;
                let code = if self.verified { ConfirmationCode::Ok } else { ConfirmationCode::WrongPassword };
                self.ack(code, &[]);
            }
            // Nothing else runs until the password is verified (R503 answers 21 "verify password first").
            _ if locked => self.ack(ConfirmationCode::Other(0x21), &[]),
            Command::HandShake => self.ack(ConfirmationCode::Ok, &[]),
            Command::ReadSysPara => {
                let mut d = Vec::with_capacity(16);
                let status: u16 =
                    (u16::from(self.verified || self.cfg.password == 0) << 2) | (u16::from(self.image.is_some()) << 3);
                d.extend_from_slice(&status.to_be_bytes());
                d.extend_from_slice(&0u16.to_be_bytes());
                d.extend_from_slice(&self.cfg.capacity.to_be_bytes());
                d.extend_from_slice(&3u16.to_be_bytes());
                d.extend_from_slice(&self.cfg.address.to_be_bytes());
                d.extend_from_slice(&u16::from(self.cfg.packet_size_code).to_be_bytes());
                d.extend_from_slice(&u16::from(self.baud_n).to_be_bytes());
                self.ack(ConfirmationCode::Ok, &d);
            }
            Command::TemplateNum => self.ack(ConfirmationCode::Ok, &0u16.to_be_bytes()),
            Command::GenImg if self.lifting => {
                self.lifting = false;
                self.ack(ConfirmationCode::NoFinger, &[]);
            }
            Command::GenImg => match self.touches.pop_front().or_else(|| self.finger.clone()) {
                Some(f) => {
                    self.lifting = self.finger.is_none();
                    self.image = Some(f);
                    self.ack(ConfirmationCode::Ok, &[]);
                }
                None => self.ack(ConfirmationCode::NoFinger, &[]),
            },
            Command::UpImage => match self.image.clone() {
                Some(img) => {
                    self.ack(ConfirmationCode::Ok, &[]);
                    // 4 bpp, high nibble = even x (R30x.md §4); data packets of the configured size, last PID 08.
                    let packed: Vec<u8> =
                        img.chunks(2).map(|px| ((px[0] >> 4) << 4) | (px.get(1).copied().unwrap_or(0) >> 4)).collect();
                    debug_assert_eq!(packed.len(), IMAGE_BYTES_4BPP);
                    let size = 32usize << self.cfg.packet_size_code.min(3);
                    let n = packed.len().div_ceil(size);
                    for (i, chunk) in packed.chunks(size).enumerate() {
                        let pid = if i + 1 == n { Pid::EndData } else { Pid::Data };
                        self.out.extend(encode(self.cfg.address, pid, chunk));
                    }
                }
                None => self.ack(ConfirmationCode::ImageUploadFailed, &[]),
            },
            Command::AuraLed { control, colour, .. } => {
                self.led = Led { control, colour };
                self.ack(ConfirmationCode::Ok, &[]);
            }
            Command::SetSysPara { register, value } => {
                let ok = match register {
                    // 9600×N, N 1..=12 (R30x.md §1); stored at once, on the line per `baud_change`.
                    4 if (1..=12).contains(&value) => {
                        self.baud_n = value;
                        if self.cfg.baud_change == BaudChange::AfterAck {
                            self.line_n = value;
                        }
                        true
                    }
                    5 => matches!(value, 1..=5),
                    6 if value <= 3 => {
                        self.cfg.packet_size_code = value;
                        true
                    }
                    _ => false,
                };
                self.ack(if ok { ConfirmationCode::Ok } else { ConfirmationCode::Other(0x1A) }, &[]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::r30x::{Ack, DEFAULT_ADDRESS, Packet, parse_sys_params, unpack_4bpp};

    fn send(m: &mut Module, c: &Command) -> Vec<Packet> {
        m.handle_input(&encode(DEFAULT_ADDRESS, Pid::Command, &c.payload()));
        let mut d = Decoder::default();
        d.handle_input(&m.poll_transmit());
        std::iter::from_fn(|| d.poll_packet()).map(|r| r.unwrap()).collect()
    }

    fn code(p: &[Packet]) -> ConfirmationCode {
        Ack::parse(&p[0].payload).unwrap().code
    }

    #[test]
    fn capture_and_upload_an_image() {
        let mut m = Module::new(ModuleConfig::default());
        assert_eq!(code(&send(&mut m, &Command::GenImg)), ConfirmationCode::NoFinger);
        let img: Vec<u8> = (0..IMAGE_WIDTH * IMAGE_HEIGHT).map(|i| (i % 251) as u8).collect();
        m.set_finger(Some(img.clone()));
        assert_eq!(code(&send(&mut m, &Command::GenImg)), ConfirmationCode::Ok);
        let p = send(&mut m, &Command::UpImage);
        assert_eq!(code(&p), ConfirmationCode::Ok);
        assert_eq!(p.len(), 1 + 288, "36,864 bytes at 128 per packet (R30x.md §4)");
        assert!(p[1..p.len() - 1].iter().all(|x| x.pid == Pid::Data));
        assert_eq!(p.last().unwrap().pid, Pid::EndData);
        let data: Vec<u8> = p[1..].iter().flat_map(|x| x.payload.clone()).collect();
        let back = unpack_4bpp(&data, IMAGE_WIDTH, IMAGE_HEIGHT).unwrap();
        assert!(back.iter().zip(&img).all(|(a, b)| a >> 4 == b >> 4), "4-bit fidelity");
    }

    #[test]
    fn each_touch_is_captured_once_then_the_finger_lifts() {
        let mut m = Module::new(ModuleConfig::default());
        let a = vec![0x10; IMAGE_WIDTH * IMAGE_HEIGHT];
        let b = vec![0xe0; IMAGE_WIDTH * IMAGE_HEIGHT];
        assert!(m.touch(a));
        assert!(m.touch(b));
        assert!(!m.touch(vec![0; 10]), "a wrong-sized image is no touch");
        assert_eq!(m.pending_touches(), 2);
        assert_eq!(code(&send(&mut m, &Command::GenImg)), ConfirmationCode::Ok);
        assert!(m.touch_in_flight());
        let first: Vec<u8> = send(&mut m, &Command::UpImage)[1..].iter().flat_map(|x| x.payload.clone()).collect();
        assert!(first.iter().all(|&x| x == 0x11), "the first touch's image, 4-bit packed");
        assert_eq!(code(&send(&mut m, &Command::GenImg)), ConfirmationCode::NoFinger, "lifted between touches");
        assert!(!m.touch_in_flight());
        assert_eq!(code(&send(&mut m, &Command::GenImg)), ConfirmationCode::Ok);
        let second: Vec<u8> = send(&mut m, &Command::UpImage)[1..].iter().flat_map(|x| x.payload.clone()).collect();
        assert!(second.iter().all(|&x| x == 0xee));
        assert_eq!(code(&send(&mut m, &Command::GenImg)), ConfirmationCode::NoFinger);
        assert_eq!(code(&send(&mut m, &Command::GenImg)), ConfirmationCode::NoFinger, "nothing left");
        m.touch(vec![0; IMAGE_WIDTH * IMAGE_HEIGHT]);
        assert_eq!(m.clear_touches(), 1);
        assert_eq!(code(&send(&mut m, &Command::GenImg)), ConfirmationCode::NoFinger, "cleared");
    }

    #[test]
    fn password_gates_everything_but_vfypwd() {
        let mut m = Module::new(ModuleConfig { password: 0x1234, ..Default::default() });
        assert_eq!(code(&send(&mut m, &Command::ReadSysPara)), ConfirmationCode::Other(0x21));
        assert_eq!(code(&send(&mut m, &Command::VfyPwd(1))), ConfirmationCode::WrongPassword);
        assert_eq!(code(&send(&mut m, &Command::VfyPwd(0x1234))), ConfirmationCode::Ok);
        let p = send(&mut m, &Command::ReadSysPara);
        let sp = parse_sys_params(&Ack::parse(&p[0].payload).unwrap().data).unwrap();
        assert_eq!(sp.capacity, 200);
        assert_eq!(sp.packet_bytes(), 128);
    }

    #[test]
    fn strict_about_garbage_and_unknown_commands() {
        let mut m = Module::new(ModuleConfig::default());
        let mut bad = encode(DEFAULT_ADDRESS, Pid::Command, &[0x01]);
        let n = bad.len();
        bad[n - 1] ^= 1;
        m.handle_input(&bad);
        let mut d = Decoder::default();
        d.handle_input(&m.poll_transmit());
        assert_eq!(
            Ack::parse(&d.poll_packet().unwrap().unwrap().payload).unwrap().code,
            ConfirmationCode::ReceiveError
        );
        assert!(d.poll_packet().is_none(), "one answer for one bad packet");
        assert!(m.faults >= 1, "counted");
        m.handle_input(&encode(DEFAULT_ADDRESS, Pid::Command, &[0x99]));
        let mut d = Decoder::default();
        d.handle_input(&m.poll_transmit());
        assert_eq!(
            Ack::parse(&d.poll_packet().unwrap().unwrap().payload).unwrap().code,
            ConfirmationCode::ReceiveError
        );
        let mut quiet = Module::new(ModuleConfig { answer_garbage: false, ..Default::default() });
        quiet.handle_input(&bad);
        assert!(quiet.poll_transmit().is_empty());
    }

    fn baud_n(m: &mut Module) -> u16 {
        let p = send(m, &Command::ReadSysPara);
        parse_sys_params(&Ack::parse(&p[0].payload).unwrap().data).unwrap().baud_n
    }

    /// SetSysPara register 4 (R30x.md §1–§3): the factory 57,600 (N = 6) is read back, a valid N is stored
    /// and acknowledged and the line follows after the ack; an N outside 1..=12 is refused with 1A and
    /// changes nothing.
    #[test]
    fn the_baud_register_is_stored_read_back_and_followed_after_the_ack() {
        let mut m = Module::new(ModuleConfig::default());
        assert_eq!((baud_n(&mut m), m.line_rate()), (6, 57_600));
        assert_eq!(code(&send(&mut m, &Command::SetSysPara { register: 4, value: 12 })), ConfirmationCode::Ok);
        assert_eq!((baud_n(&mut m), m.line_rate()), (12, 115_200));
        for bad in [0, 13] {
            let c = code(&send(&mut m, &Command::SetSysPara { register: 4, value: bad }));
            assert_eq!(c, ConfirmationCode::Other(0x1A), "N = {bad}");
        }
        assert_eq!((baud_n(&mut m), m.line_rate()), (12, 115_200));
    }

    /// A module that changes its rate only at power-up (ZFM: "effective next start-up"): the register reads
    /// back the new N while the line keeps the old rate until a power cycle.
    #[test]
    fn a_module_may_follow_the_baud_register_only_after_a_power_cycle() {
        let mut m = Module::new(ModuleConfig { baud_change: BaudChange::AtPowerUp, ..Default::default() });
        assert_eq!(code(&send(&mut m, &Command::SetSysPara { register: 4, value: 2 })), ConfirmationCode::Ok);
        assert_eq!((baud_n(&mut m), m.line_rate()), (2, 57_600));
        m.power_cycle();
        assert_eq!((baud_n(&mut m), m.line_rate()), (2, 19_200));
        let locked = Module::new(ModuleConfig { password: 7, baud_n: 12, ..Default::default() });
        assert_eq!(locked.line_rate(), 115_200, "a module left at 115,200 powers up there");
    }

    #[test]
    fn aura_led_and_packet_size() {
        let mut m = Module::new(ModuleConfig::default());
        assert_eq!(
            code(&send(&mut m, &Command::AuraLed { control: 3, speed: 0, colour: 2, times: 0 })),
            ConfirmationCode::Ok
        );
        assert_eq!(m.led, Led { control: 3, colour: 2 });
        assert_eq!(code(&send(&mut m, &Command::SetSysPara { register: 6, value: 3 })), ConfirmationCode::Ok);
        assert_eq!(code(&send(&mut m, &Command::SetSysPara { register: 4, value: 13 })), ConfirmationCode::Other(0x1A));
        m.set_finger(Some(vec![0; IMAGE_WIDTH * IMAGE_HEIGHT]));
        send(&mut m, &Command::GenImg);
        assert_eq!(send(&mut m, &Command::UpImage).len(), 1 + 144, "256-byte packets");
    }
}
