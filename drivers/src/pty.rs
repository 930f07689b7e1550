//! Pseudo-terminals for the simulator: the device side holds the master, the daemon (or a test peer) opens
//! the slave path exactly as it would open /dev/ttyUSB0.

use std::ffi::CStr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

/// Opens a PTY pair in raw mode (no echo, no CR/LF translation: a serial line carries bytes, not text).
/// Returns the master, the slave (keep it open so the master never sees EIO between peers) and its path.
pub fn open_pty() -> std::io::Result<(OwnedFd, OwnedFd, PathBuf)> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    // SAFETY: openpty writes two fds into the out-pointers; name, termios and winsize may be null.
    let r = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds were just returned by openpty and are owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    use std::os::fd::AsRawFd;
    // SAFETY: a zeroed termios is a valid out-buffer for tcgetattr on a valid fd.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: slave is a valid terminal fd; `t` is a valid termios.
    unsafe {
        if libc::tcgetattr(slave.as_raw_fd(), &mut t) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::cfmakeraw(&mut t);
        if libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: the buffer is valid for its length; ttyname_r NUL-terminates on success.
    let r = unsafe { libc::ttyname_r(slave.as_raw_fd(), name.as_mut_ptr(), name.len()) };
    if r != 0 {
        return Err(std::io::Error::from_raw_os_error(r));
    }
    // SAFETY: ttyname_r succeeded, so `name` holds a NUL-terminated string.
    let path = unsafe { CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned();
    Ok((master, slave, PathBuf::from(path)))
}
