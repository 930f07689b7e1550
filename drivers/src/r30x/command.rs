//! Commands the host sends and the acknowledgements the module returns (R30x.md §2, §3, §5).

/// Instruction codes this driver uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    VfyPwd(u32),
    ReadSysPara,
    GenImg,
    UpImage,
    /// Aura LED ring (R50x): control (1 breathe, 2 flash, 3 on, 4 off, 5 fade on, 6 fade off), speed,
    /// colour (1 red, 2 blue, 3 purple, 4 green…), times (0 = forever).
    AuraLed {
        control: u8,
        speed: u8,
        colour: u8,
        times: u8,
    },
    /// Baud register 4 = N (9600×N), security 5, packet size 6 (0..=3 → 32..256 bytes).
    SetSysPara {
        register: u8,
        value: u8,
    },
    HandShake,
    TemplateNum,
}

impl Command {
    pub fn code(&self) -> u8 {
        match self {
            Command::VfyPwd(_) => 0x13,
            Command::ReadSysPara => 0x0F,
            Command::GenImg => 0x01,
            Command::UpImage => 0x0A,
            Command::AuraLed { .. } => 0x35,
            Command::SetSysPara { .. } => 0x0E,
            Command::HandShake => 0x40,
            Command::TemplateNum => 0x1D,
        }
    }

    /// The command packet's payload: the code, then its parameters.
    pub fn payload(&self) -> Vec<u8> {
        let mut p = vec![self.code()];
        match self {
            Command::VfyPwd(pwd) => p.extend_from_slice(&pwd.to_be_bytes()),
            Command::AuraLed { control, speed, colour, times } => {
                p.extend_from_slice(&[*control, *speed, *colour, *times])
            }
            Command::SetSysPara { register, value } => p.extend_from_slice(&[*register, *value]),
            _ => {}
        }
        p
    }

    /// Parses a command payload (the simulator's side).
    pub fn parse(payload: &[u8]) -> Option<Command> {
        let (&code, rest) = payload.split_first()?;
        Some(match (code, rest) {
            (0x13, [a, b, c, d]) => Command::VfyPwd(u32::from_be_bytes([*a, *b, *c, *d])),
            (0x0F, []) => Command::ReadSysPara,
            (0x01, []) => Command::GenImg,
            (0x0A, []) => Command::UpImage,
            (0x35, [control, speed, colour, times]) => {
                Command::AuraLed { control: *control, speed: *speed, colour: *colour, times: *times }
            }
            (0x0E, [register, value]) => Command::SetSysPara { register: *register, value: *value },
            (0x40, []) => Command::HandShake,
            (0x1D, []) => Command::TemplateNum,
            _ => return None,
        })
    }
}

/// Confirmation codes that matter to the driver; the rest keep their byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmationCode {
    Ok,
    ReceiveError,
    NoFinger,
    CaptureFailed,
    WrongPassword,
    ImageUploadFailed,
    Other(u8),
}

impl ConfirmationCode {
    pub fn from_byte(b: u8) -> Self {
        match b {
            0x00 => Self::Ok,
            0x01 => Self::ReceiveError,
            0x02 => Self::NoFinger,
            0x03 => Self::CaptureFailed,
            0x13 => Self::WrongPassword,
            0x0F => Self::ImageUploadFailed,
            other => Self::Other(other),
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            Self::Ok => 0x00,
            Self::ReceiveError => 0x01,
            Self::NoFinger => 0x02,
            Self::CaptureFailed => 0x03,
            Self::WrongPassword => 0x13,
            Self::ImageUploadFailed => 0x0F,
            Self::Other(b) => b,
        }
    }
}

/// An acknowledgement: the confirmation code and whatever the command returns after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub code: ConfirmationCode,
    pub data: Vec<u8>,
}

impl Ack {
    pub fn parse(payload: &[u8]) -> Option<Ack> {
        let (&c, rest) = payload.split_first()?;
        Some(Ack { code: ConfirmationCode::from_byte(c), data: rest.to_vec() })
    }
}

/// ReadSysPara's 16 bytes (R30x.md §3). The system id varies between manuals and is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysParams {
    pub status: u16,
    pub capacity: u16,
    pub security: u16,
    pub address: u32,
    /// 0..=3 → 32, 64, 128, 256 bytes per data packet.
    pub packet_size_code: u16,
    /// Baud = 9600 × N.
    pub baud_n: u16,
}

impl SysParams {
    pub fn packet_bytes(&self) -> usize {
        32 << self.packet_size_code.min(3)
    }
}

pub fn parse_sys_params(d: &[u8]) -> Option<SysParams> {
    if d.len() != 16 {
        return None;
    }
    let u16at = |i: usize| u16::from_be_bytes([d[i], d[i + 1]]);
    Some(SysParams {
        status: u16at(0),
        capacity: u16at(4),
        security: u16at(6),
        address: u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
        packet_size_code: u16at(12),
        baud_n: u16at(14),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::r30x::{DEFAULT_ADDRESS, Decoder};

    #[test]
    fn commands_round_trip() {
        for c in [
            Command::VfyPwd(0),
            Command::VfyPwd(0xDEAD_BEEF),
            Command::ReadSysPara,
            Command::GenImg,
            Command::UpImage,
            Command::AuraLed { control: 1, speed: 100, colour: 2, times: 0 },
            Command::SetSysPara { register: 6, value: 2 },
            Command::HandShake,
            Command::TemplateNum,
        ] {
            assert_eq!(Command::parse(&c.payload()), Some(c));
        }
        assert_eq!(Command::parse(&[0x13, 0, 0]), None, "a short VfyPwd is not a command");
        assert_eq!(Command::parse(&[]), None);
    }

    #[test]
    fn sys_params_from_a_real_capture() {
        let cap = [
            0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0x13, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0xC8, 0x00, 0x03,
            0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x02, 0x00, 0x06, 0x04, 0xED,
        ];
        let mut d = Decoder::new(DEFAULT_ADDRESS);
        d.handle_input(&cap);
        let ack = Ack::parse(&d.poll_packet().unwrap().unwrap().payload).unwrap();
        assert_eq!(ack.code, ConfirmationCode::Ok);
        let p = parse_sys_params(&ack.data).unwrap();
        assert_eq!(p.capacity, 200);
        assert_eq!(p.security, 3);
        assert_eq!(p.address, DEFAULT_ADDRESS);
        assert_eq!(p.packet_bytes(), 128);
        assert_eq!(p.baud_n, 6, "57600 baud");
        assert_eq!(p.status & 0b100, 0b100, "password verified bit");
    }
}
