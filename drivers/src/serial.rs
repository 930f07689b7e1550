//! A serial port opened as a file and set to raw 8N1 at a given baud with termios: enough for UART readers
//! and RS-485 adapters, without libudev (works the same on a pseudo-terminal from `tobira-sim`).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

fn speed(baud: u32) -> Option<libc::speed_t> {
    Some(match baud {
        9600 => libc::B9600,
        19200 => libc::B19200,
        38400 => libc::B38400,
        57600 => libc::B57600,
        115200 => libc::B115200,
        _ => return None,
    })
}

fn baud_of(speed: libc::speed_t) -> Option<u32> {
    crate::line::STANDARD_BAUDS.into_iter().find(|&b| self::speed(b) == Some(speed))
}

fn unsupported(baud: u32) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("unsupported baud rate {baud}"))
}

/// Changes the line rate of an open port (the R30x driver after SetSysPara, R30x.md §1), dropping whatever
/// arrived at the old rate: at another rate those bytes are noise.
pub fn set_baud(port: &impl AsRawFd, baud: u32) -> std::io::Result<()> {
    let fd = port.as_raw_fd();
    let sp = speed(baud).ok_or_else(|| unsupported(baud))?;
    // SAFETY: a zeroed termios is a valid out-buffer; fd is a valid open descriptor for the calls below.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::cfsetispeed(&mut t, sp);
        libc::cfsetospeed(&mut t, sp);
        if libc::tcsetattr(fd, libc::TCSANOW, &t) != 0 || libc::tcflush(fd, libc::TCIFLUSH) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Drops what has arrived on `port` and not been read: before a command on a strictly request/reply
/// line, any byte waiting is an answer that came after its deadline (R30x.md §7: hosts must handle a
/// timeout), and reading it as the answer to the next command would pair them wrongly.
pub fn discard_input(port: &impl AsRawFd) -> std::io::Result<()> {
    // SAFETY: tcflush on a valid open descriptor.
    if unsafe { libc::tcflush(port.as_raw_fd(), libc::TCIFLUSH) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The line rate a terminal is set to, if it is one of [`crate::line::STANDARD_BAUDS`]. On a pseudo-terminal
/// the simulated device reads the rate the host set on its side (the slave's settings), as a real module
/// would "hear" whether the host speaks at its rate.
pub fn line_rate(port: &impl AsRawFd) -> Option<u32> {
    // SAFETY: a zeroed termios is a valid out-buffer for tcgetattr on a valid descriptor.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(port.as_raw_fd(), &mut t) != 0 {
            return None;
        }
        baud_of(libc::cfgetospeed(&t))
    }
}

/// Opens `path` raw at `baud` with reads that return after `timeout` without data.
pub fn open(path: &Path, baud: u32, timeout: Duration) -> std::io::Result<File> {
    let f = OpenOptions::new().read(true).write(true).open(path)?;
    let fd = f.as_raw_fd();
    let Some(sp) = speed(baud) else {
        return Err(unsupported(baud));
    };
    // SAFETY: a zeroed termios is a valid out-buffer; fd is a valid open descriptor for the calls below.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::cfmakeraw(&mut t);
        libc::cfsetispeed(&mut t, sp);
        libc::cfsetospeed(&mut t, sp);
        t.c_cflag |= libc::CLOCAL | libc::CREAD;
        // VMIN 0 / VTIME in tenths of a second: read returns what arrived, or nothing after the timeout.
        t.c_cc[libc::VMIN] = 0;
        t.c_cc[libc::VTIME] = (timeout.as_millis() / 100).clamp(1, 255) as libc::cc_t;
        if libc::tcsetattr(fd, libc::TCSANOW, &t) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(f)
}
